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
``CheckpointError`` and kin     see ``pretrained.py``  anything about reading a checkpoint
==============================  =====================  ==========================================
"""

from __future__ import annotations

__all__ = [
    "CheckpointChecksumError",
    "CheckpointCorruptError",
    "CheckpointDownloadError",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointKeyCollisionError",
    "CheckpointNotFoundError",
    "CheckpointPrefixError",
    "CheckpointStrictError",
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
    """The checkpoint file does not exist."""


class CheckpointCorruptError(CheckpointError, ValueError):
    """The file exists but cannot be read as a checkpoint (truncated, not a checkpoint, HTML)."""


class CheckpointUnsafeError(CheckpointError, RuntimeError):
    """Loading would run pickle code from the file; refused unless explicitly allowed."""


class CheckpointFormatError(CheckpointError, ValueError):
    """The checkpoint was read but its layout holds no usable state dict."""


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
