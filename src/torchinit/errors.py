"""The torchinit exception tree.

Every class also subclasses the builtin exception that mmengine raises for the same
mistake, so ``except TypeError`` written for mmengine still catches ours:

==============================  =====================  ==========================================
class                           also a                 raised for
==============================  =====================  ==========================================
``ConfigTypeError``             ``TypeError``          a value of the wrong type, an unknown argument
``ConfigValueError``            ``ValueError``         a value out of range, override without name/type
``ConfigKeyError``              ``KeyError``           a missing ``type`` key
``UnknownTypeError``            ``KeyError``           a ``type`` that no registry holds
``RegistryError``               ``KeyError``           registering a name twice without ``force``
``OverrideNameError``           ``RuntimeError``       an ``override`` naming no submodule
``InitStateError``              ``RuntimeError``       a parameter left uninitialized after materializing
``InitApplyError``              ``RuntimeError``       a write failed while the plan was applied (model restored)
``CheckpointError`` and kin     see below              anything about reading a checkpoint
==============================  =====================  ==========================================

Checkpoints (every class subclasses ``CheckpointError``; the model and the cache are unchanged):

==============================  =====================  ==========================================
class                           also a                 raised for
==============================  =====================  ==========================================
``CheckpointNotFoundError``     ``FileNotFoundError``  no such file, a directory, a path too long
``CheckpointReadError``         ``OSError``            permission denied, an I/O error
``CheckpointCorruptError``      ``ValueError``         damaged, truncated, HTML, a bad safetensors
                                                       header, a file changed while being read
``CheckpointUnsafeError``       ``RuntimeError``       pickle code the caller did not allow
``CheckpointFormatError``       ``ValueError``         no state dict in the checkpoint
``CheckpointNotDictError``      ``RuntimeError`` too   the checkpoint is not a dict (a subclass of
                                                       ``CheckpointFormatError``)
``CheckpointTensorError``       ``RuntimeError``       a tensor that cannot be copied into its
                                                       parameter (sparse, meta, lossy dtype)
``CheckpointDeviceError``       ``RuntimeError``       ``map_location`` names a missing device
``CheckpointStrictError``       ``RuntimeError``       strict load with missing/unexpected keys
``CheckpointPrefixError``       ``KeyError``           a ``prefix`` matching no key
``CheckpointKeyCollisionError`` ``ValueError``         two keys renamed to one
``CheckpointThresholdError``    ``RuntimeError``       less than ``min_loaded`` loaded
``UnknownSchemeError``          ``ValueError``         ``foo://`` with no loader
``CheckpointChecksumError``     ``ValueError``         a download not matching its hash
``CheckpointDownloadError``     ``OSError``            unreachable, HTTP error, stall, deadline
``ModelZooError``               ``KeyError``           a model-zoo name in no table
==============================  =====================  ==========================================
"""

from __future__ import annotations

__all__ = [
    "CheckpointChecksumError",
    "CheckpointCorruptError",
    "CheckpointDeviceError",
    "CheckpointDownloadError",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointKeyCollisionError",
    "CheckpointNotDictError",
    "CheckpointNotFoundError",
    "CheckpointPrefixError",
    "CheckpointReadError",
    "CheckpointStrictError",
    "CheckpointTensorError",
    "CheckpointThresholdError",
    "CheckpointUnsafeError",
    "ConfigError",
    "ConfigKeyError",
    "ConfigTypeError",
    "ConfigValueError",
    "InitApplyError",
    "InitStateError",
    "InitWarning",
    "ModelZooError",
    "OverrideNameError",
    "RegistryError",
    "TorchInitError",
    "UnknownSchemeError",
    "UnknownTypeError",
]


class TorchInitError(Exception):
    """Root of every exception torchinit raises on purpose."""

    def __str__(self) -> str:
        # KeyError quotes its argument (``KeyError('x')`` prints ``'x'``); our messages are
        # sentences, so print them as they are whichever builtin we also subclass.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class InitWarning(UserWarning):
    """A config that is valid but probably not what was meant (a rule matching nothing)."""


# --------------------------------------------------------------------------- configs
class ConfigError(TorchInitError):
    """An ``init_cfg`` (or a layer / model cfg) is wrong; nothing was changed."""


class ConfigTypeError(ConfigError, TypeError):
    """A config value has the wrong type, or an initializer does not take an argument."""


class ConfigValueError(ConfigError, ValueError):
    """A config value has the right type but is not allowed."""


class ConfigKeyError(ConfigError, KeyError):
    """A required key (``type``, ``name``) is missing from a config dict."""


class UnknownTypeError(ConfigError, KeyError):
    """A ``type`` names nothing in the registry it was looked up in."""


class RegistryError(TorchInitError, KeyError):
    """A name is registered twice without ``force=True``, or a registration is malformed."""


class OverrideNameError(ConfigError, RuntimeError):
    """An ``override`` entry names a submodule that does not exist."""


class InitStateError(TorchInitError, RuntimeError):
    """A parameter or buffer would reach the user uninitialized, or init state is inconsistent."""


class InitApplyError(TorchInitError, RuntimeError):
    """Applying a validated plan failed: a fill, a copy, user code or a callback raised.

    Every parameter and buffer was restored first, and ``is_init`` flags too. The message
    names the rule (or user code) and the tensor; the original exception is ``__cause__``.
    """


# --------------------------------------------------------------------------- checkpoints
class CheckpointError(TorchInitError):
    """Root of every failure to read, verify or apply a checkpoint; the model is unchanged."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist (or its path cannot name a file: too long, through a file)."""


class CheckpointReadError(CheckpointError, OSError):
    """The file exists but the system refused to read it (permission denied, an I/O error)."""


class CheckpointCorruptError(CheckpointError, ValueError):
    """The file exists but cannot be read as a checkpoint (truncated, not a checkpoint, HTML)."""


class CheckpointUnsafeError(CheckpointError, RuntimeError):
    """Loading would run pickle code from the file; refused unless explicitly allowed."""


class CheckpointFormatError(CheckpointError, ValueError):
    """The checkpoint was read but its layout holds no usable state dict."""


class CheckpointNotDictError(CheckpointFormatError, RuntimeError):
    """The checkpoint is not a dict (a list, a tensor): a RuntimeError as in mmengine too."""


class CheckpointTensorError(CheckpointError, RuntimeError):
    """A checkpoint tensor cannot be copied into its parameter or buffer without error or loss:
    sparse, meta, quantized or nested, or of a dtype whose values the target cannot hold."""


class CheckpointDeviceError(CheckpointError, RuntimeError):
    """``map_location`` names a device this machine does not have (``'cuda'`` without a GPU)."""


class CheckpointStrictError(CheckpointError, RuntimeError):
    """A strict load found missing, unexpected or shape-mismatched keys."""


class CheckpointPrefixError(CheckpointError, KeyError):
    """A ``prefix`` matches no key of the checkpoint."""


class CheckpointKeyCollisionError(CheckpointError, ValueError):
    """Two checkpoint keys map to the same name after ``revise_keys``."""


class CheckpointThresholdError(CheckpointError, RuntimeError):
    """A load result misses a threshold set in the Pretrained config (e.g. min fraction loaded)."""


class UnknownSchemeError(CheckpointError, ValueError):
    """A checkpoint URI uses a scheme (``foo://``) that no loader is registered for."""


class CheckpointChecksumError(CheckpointError, ValueError):
    """A file's SHA-256 does not match the hash carried in its name."""


class CheckpointDownloadError(CheckpointError, OSError):
    """A download failed, stalled or timed out."""


class ModelZooError(CheckpointError, KeyError):
    """A ``torchvision://`` / ``open-mmlab://`` name is in no model-zoo table."""
