"""Reading one checkpoint file safely, and checking each tensor before it is copied.

* ``.safetensors`` (or any file with a safetensors header) opens lazily through
  :class:`SafetensorsStateDict`: the whole header is validated, then only the tensors asked
  for are read.
* Everything else goes through ``torch.load(weights_only=True)``, with numpy scalars, arrays
  and dtypes allowed (ordinary training metadata) and nothing more. ``weights_only`` is
  always passed explicitly, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot switch it off.
* An empty file, an HTML page, a truncated archive: :class:`CheckpointCorruptError`. A
  pickle (a ``torch.save`` file or a raw ``pickle.dump``) that needs other globals:
  :class:`CheckpointUnsafeError` naming them and the opt-in. The globals are found with
  :mod:`pickletools`, which reads the opcodes and never runs them.
* A file that changes while it is read: :class:`CheckpointCorruptError` ("changed while it
  was being read").
* :func:`check_loadable`: a tensor that is sparse, meta, quantized or nested, or whose values
  its target's dtype cannot hold, is a :class:`CheckpointTensorError` before the first copy.
"""

from __future__ import annotations

import io
import logging
import math
import pickle
import pickletools
import sys
import warnings
import zipfile
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import Tensor

from ..errors import CheckpointCorruptError, CheckpointTensorError, CheckpointUnsafeError
from ._files import FileIdentity, check_unchanged, describe_path, looks_like_html, open_regular, path_error
from ._safetensors import SafetensorsStateDict, is_safetensors

__all__ = [
    "SafetensorsStateDict",
    "check_loadable",
    "entry_shape",
    "is_tensor_entry",
    "looks_like_html",
    "materialize",
    "read_file",
]

logger = logging.getLogger("torchinit")

_MAX_SCANNED_PICKLES = 5  # a legacy torch.save file: magic, protocol, sys info, object, storage keys
_MAX_SCANNED_BYTES = 256 * 1024 * 1024
_WIDENED = tuple(getattr(torch, n) for n in ("uint16", "uint32") if hasattr(torch, n))  # no aminmax
_QUANTIZED = frozenset(
    getattr(torch, n) for n in ("qint8", "quint8", "qint32", "quint4x2", "quint2x4") if hasattr(torch, n)
)
_TORCH_ADVICE = ("weights_only", "Weights only", "file an issue", "documentation", "trusted source")


@lru_cache(maxsize=1)
def _numpy_globals() -> tuple[Any, ...]:
    """The numpy types that ordinary checkpoint metadata pickles: arrays, scalars, dtypes."""
    try:
        import numpy as np
    except ImportError:
        return ()
    core = getattr(np, "_core", None) or np.core
    dtypes = {type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDGUSMm"}
    return (
        np.ndarray,
        np.dtype,
        core.multiarray.scalar,
        core.multiarray._reconstruct,
        *sorted(dtypes, key=lambda t: t.__name__),
    )


def read_file(
    path: Path, *, source: str, map_location: Any, allow_pickle: bool, identity: FileIdentity | None = None
) -> Mapping[str, Any]:
    """The checkpoint in ``path``; a :class:`SafetensorsStateDict` for safetensors files.

    Args:
        identity: the version of the file that must be read (a download's verified copy).

    Raises:
        CheckpointNotFoundError: ``path`` is missing, a directory, or cannot name a file.
        CheckpointReadError: permission denied or an I/O error.
        CheckpointCorruptError: empty, HTML, truncated, not a checkpoint, or changed while read.
        CheckpointUnsafeError: loading needs pickle globals beyond tensors and numpy.
    """
    file, found = open_regular(path, source, identity)
    with file:
        try:
            head = file.read(64)
        except OSError as exc:
            raise path_error(exc, source, path) from None
    where = describe_path(source)
    if found.size == 0:
        raise CheckpointCorruptError(
            f"checkpoint {where} is empty (0 bytes): an interrupted copy or download?"
        )
    if looks_like_html(head):
        raise CheckpointCorruptError(
            f"checkpoint {where} is an HTML page, not a checkpoint: probably an error or login page "
            "saved in its place. Download it again from its real address."
        )
    if path.suffix == ".safetensors" or is_safetensors(head, found.size):
        return SafetensorsStateDict(path, source=source, device=map_location, identity=found)
    return _torch_load(path, head, found, source=source, map_location=map_location, allow_pickle=allow_pickle)


def _torch_load(
    path: Path, head: bytes, identity: FileIdentity, *, source: str, map_location: Any, allow_pickle: bool
) -> Any:
    kind = _pickle_kind(head)
    try:
        # torch warns while it reads (pickle protocols > 2, TypedStorage deprecation): noise about
        # torch's internals that must not fail a good file where warnings are errors. Logged.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if allow_pickle and kind == "raw":
                with open(path, "rb") as f:
                    checkpoint = pickle.load(f)  # noqa: S301 (the caller trusts this file: allow_pickle=True)
            elif allow_pickle:
                checkpoint = torch.load(path, map_location=map_location, weights_only=False)
            else:
                with torch.serialization.safe_globals(list(_numpy_globals())):
                    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 (torch reports bad files as RuntimeError, EOFError, ...)
        check_unchanged(identity, path, source)
        unsafe = [] if allow_pickle else _unsafe_globals(path, kind)
        if unsafe:
            raw = " (a raw pickle.dump file, not a torch.save checkpoint)" if kind == "raw" else ""
            raise CheckpointUnsafeError(
                f"refused to load {describe_path(source)}: it is a pickle{raw} that needs "
                f"{', '.join(unsafe)} to load, and unpickling can run any code the file's author "
                "chose. torchinit only reads tensors, numpy values and plain containers by default. If "
                "you trust the file, pass allow_pickle=True (to load_checkpoint, or in the Pretrained "
                "config), or better, re-save it as safetensors."
            ) from None
        raise _corrupt(source, exc, kind) from None
    finally:
        for warning in caught:
            logger.debug("torch.load(%s) warned: %s", source, warning.message)
    check_unchanged(identity, path, source)
    return checkpoint


def _corrupt(source: str, exc: BaseException, kind: str) -> CheckpointCorruptError:
    where = describe_path(source)
    if kind == "raw":
        return CheckpointCorruptError(
            f"checkpoint {where} is a raw pickle (written with pickle.dump, not torch.save), which "
            "torch.load cannot read. Re-save the weights with torch.save or as safetensors; if you trust "
            "the file, allow_pickle=True reads it with pickle."
        )
    lines = [line.strip() for line in str(exc).splitlines()]
    reasons = [line for line in lines if line and not any(a in line for a in _TORCH_ADVICE)]
    text = (reasons[0] if reasons else type(exc).__name__).removeprefix("WeightsUnpickler error: ")
    return CheckpointCorruptError(
        f"checkpoint {where} is not a readable checkpoint (truncated or damaged?): {text[:300]}"
    )


# --------------------------------------------------------------------------- pickle inspection
def _pickle_kind(head: bytes) -> str:
    """'zip' (torch.save), 'legacy' (torch.save, _use_new_zipfile_serialization=False),
    'raw' (a pickle.dump file) or 'other', from the first bytes alone."""
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    first: list[tuple[str, Any]] = []
    try:
        first.extend((op.name, arg) for op, arg, _ in pickletools.genops(io.BytesIO(head)))
    except ValueError as exc:  # an unknown opcode: not a pickle; else a first pickle longer than head
        return "raw" if first and "unknown" not in str(exc) else "other"
    magic = torch.serialization.MAGIC_NUMBER
    return "legacy" if any(name in ("LONG1", "LONG4") and arg == magic for name, arg in first) else "raw"


def _pickle_globals(stream: BinaryIO, max_pickles: int = 1) -> list[str]:
    """The ``module.name`` globals that unpickling ``stream`` would import, in order, without
    running anything (opcodes are read with :mod:`pickletools`). Stops at the first damage."""
    names: list[str] = []
    for _ in range(max_pickles):
        memo: dict[int, Any] = {}
        pushed: list[Any] = []  # the values pushed so far, strings kept (for STACK_GLOBAL)
        try:
            for op, arg, _ in pickletools.genops(stream):
                name = op.name
                if name in ("GLOBAL", "INST"):
                    names.append(str(arg).replace(" ", "."))
                elif name == "STACK_GLOBAL":
                    module, attr = pushed[-2:] if len(pushed) >= 2 else [None, None]
                    ok = isinstance(module, str) and isinstance(attr, str)
                    names.append(f"{module}.{attr}" if ok else "<a global computed while unpickling>")
                    pushed.append(None)
                elif name in ("EXT1", "EXT2", "EXT4"):
                    names.append(f"<copyreg extension {arg}>")
                elif name in ("BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"):
                    memo[len(memo) if name == "MEMOIZE" else arg] = pushed[-1] if pushed else None  # type: ignore[index]  # an int
                elif name in ("BINGET", "LONG_BINGET", "GET"):
                    pushed.append(memo.get(arg))  # type: ignore[arg-type]  # GET opcodes carry an int
                elif op.stack_after:
                    pushed.append(arg if isinstance(arg, str) else None)
        except Exception:  # noqa: BLE001 (damage or the end of the pickles: report what was seen)
            break
    return list(dict.fromkeys(names))


def _unsafe_globals(path: Path, kind: str) -> list[str]:
    """The globals a weights-only load refuses, or [] if the failure was damage, not danger.

    A truncated pickle can cut a torch name short (``torch._utils._rebuild_tens``): a name in
    torch's namespace that does not exist means a damaged file, not a foreign one.
    """
    try:
        if kind == "zip":
            with zipfile.ZipFile(path) as archive:
                info = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
                if info.file_size > _MAX_SCANNED_BYTES:
                    return []
                names = _pickle_globals(io.BytesIO(archive.read(info)))
        elif kind in ("legacy", "raw"):
            with open(path, "rb") as f:
                names = _pickle_globals(f, _MAX_SCANNED_PICKLES)
        else:
            return []
    except Exception:  # noqa: BLE001 (an unreadable archive is damage: reported as such)
        return []
    names = [n for n in names if n not in _safe_names()]
    if any(n.split(".")[0] == "torch" and not _resolves(n) for n in names):
        return []
    return names


def _safe_names() -> frozenset[str]:
    """What a weights-only load accepts: torch's allowlist, the user's additions, numpy."""
    names = {f"{getattr(g, '__module__', '')}.{getattr(g, '__name__', '')}" for g in _numpy_globals()}
    try:
        from torch import _weights_only_unpickler as unpickler

        names |= set(unpickler._get_allowed_globals()) | set(unpickler._get_user_allowed_globals())
    except Exception:  # noqa: BLE001 (a torch without these helpers: report every global)
        pass
    return frozenset(names)


def _resolves(dotted: str) -> bool:
    """False only for a name in an imported module that lacks it; nothing is imported."""
    module, _, name = dotted.rpartition(".")
    loaded = sys.modules.get(module)
    return loaded is None or hasattr(loaded, name)


# --------------------------------------------------------------------------- entries of any mapping
def is_tensor_entry(state: Mapping[str, Any], key: str) -> bool:
    """True if ``state[key]`` is a tensor (without reading it from a lazy file)."""
    return isinstance(state, SafetensorsStateDict) or isinstance(state.get(key), Tensor)


def entry_shape(state: Mapping[str, Any], key: str, source: str = "checkpoint") -> tuple[int, ...] | None:
    """The shape of ``state[key]``, or None if it is not a tensor; reads no tensor data.

    Raises:
        CheckpointTensorError: the tensor is sparse, meta, quantized or nested.
    """
    if isinstance(state, SafetensorsStateDict):
        return state.shape(key)
    value = state.get(key)
    if not isinstance(value, Tensor):
        return None
    _check_kind(key, value, source)
    return tuple(value.shape)


def check_loadable(key: str, value: Any, target: Tensor, source: str) -> None:
    """Raise unless ``target.copy_(value)`` works and keeps every value of ``value``.

    ``value`` is the tensor read for checkpoint key ``key``; ``target`` the parameter or
    buffer (possibly on the meta device) it will be copied into. Lower precision is allowed
    (float32 into float16, as ``load_state_dict`` does); values the target cannot hold are
    not: complex into real, fractions into integers, values beyond the target's range.

    Raises:
        CheckpointTensorError: not a dense tensor with data, or the cast would lose values.
        CheckpointCorruptError: the tensor read does not have the shape its entry declared.
    """
    where = describe_path(source)
    if not isinstance(value, Tensor):
        raise CheckpointCorruptError(
            f"checkpoint {where}: entry {key!r} was declared a tensor but reading it gave "
            f"{type(value).__name__}. Save the checkpoint again."
        )
    _check_kind(key, value, source)
    if tuple(value.shape) != tuple(target.shape):
        raise CheckpointCorruptError(
            f"checkpoint {where}: tensor {key!r} was read with shape {tuple(value.shape)} but declared "
            f"{tuple(target.shape)}; nothing is broadcast. Save the checkpoint again."
        )
    problem = _cast_problem(value, target.dtype)
    if problem:
        raise CheckpointTensorError(
            f"checkpoint {where}: tensor {key!r} ({value.dtype}) cannot be copied into a {target.dtype} "
            f"tensor: {problem}. Nothing was loaded; convert it in the checkpoint or change the "
            "model's dtype."
        )


def _check_kind(key: str, value: Tensor, source: str) -> None:
    if value.is_nested:
        kind, fix = "a nested tensor", "torch.nested.to_padded_tensor(t, 0)"
    elif value.layout != torch.strided:
        kind, fix = f"a sparse tensor ({value.layout})", "t.to_dense()"
    elif value.is_quantized:
        kind, fix = "a quantized tensor", "t.dequantize()"
    elif value.is_meta:
        kind, fix = "on the meta device (it holds no data)", "values saved from a materialized model"
    else:
        return
    raise CheckpointTensorError(
        f"checkpoint {describe_path(source)}: tensor {key!r} is {kind}, which cannot be copied into a "
        f"dense parameter or buffer. Nothing was loaded; store {fix} in the checkpoint instead"
        + (", and do not read it with map_location='meta'." if value.is_meta else ".")
    )


def _cast_problem(value: Tensor, dtype: torch.dtype) -> str | None:
    source = value.dtype
    if source == dtype or dtype in _QUANTIZED:  # copy_ quantizes by design
        return None
    if source.is_complex and not dtype.is_complex:
        return "complex values would lose their imaginary parts"
    if (source.is_floating_point or source.is_complex) and not (dtype.is_floating_point or dtype.is_complex):
        return "floating-point values would be truncated to integers"
    limits = _exact_limits(source, dtype)
    extremes = None if limits is None else _extremes(value)
    if limits is None or extremes is None or (limits[0] <= extremes[0] and extremes[1] <= limits[1]):
        return None
    return (
        f"its values reach [{extremes[0]:g}, {extremes[1]:g}], beyond what {dtype} holds without loss "
        f"([{limits[0]:g}, {limits[1]:g}])"
    )


def _exact_limits(source: torch.dtype, target: torch.dtype) -> tuple[float, float] | None:
    """The value range ``target`` holds without loss for values of ``source``; None if every
    value of ``source`` fits (float precision aside)."""
    if source == torch.bool:
        return None
    if target == torch.bool:
        return (0, 1)
    if not (target.is_floating_point or target.is_complex):
        if (
            torch.iinfo(target).min <= torch.iinfo(source).min
            and torch.iinfo(source).max <= torch.iinfo(target).max
        ):
            return None
        return (torch.iinfo(target).min, torch.iinfo(target).max)
    real = target.to_real()
    if not (source.is_floating_point or source.is_complex):  # integers: exact up to 2 ** (mantissa + 1)
        exact = 2 ** (round(-math.log2(torch.finfo(real).eps)) + 1)  # eps = 2 ** -mantissa bits
        return (
            None
            if torch.iinfo(source).max <= exact and -exact <= torch.iinfo(source).min
            else (-exact, exact)
        )
    largest = torch.finfo(real).max
    return None if torch.finfo(source.to_real()).max <= largest else (-largest, largest)


def _extremes(value: Tensor) -> tuple[float, float] | None:
    """The smallest and largest finite value of ``value`` (None if it has none)."""
    if value.numel() == 0:
        return None
    if value.is_complex():
        value = torch.view_as_real(value)
    if value.dtype == getattr(torch, "uint64", None):  # no comparisons on uint64: look at the bits
        lo, hi = (int(v) for v in torch.aminmax(value.view(torch.int64)))
        return (0, 2**64 - 1) if lo < 0 else (lo, hi)
    if value.is_floating_point() and value.dtype.itemsize == 1:  # float8: no aminmax
        value = value.float()
    elif value.dtype in _WIDENED:
        value = value.long()
    low, high = torch.aminmax(value)
    if value.is_floating_point() and not bool(low.isfinite() & high.isfinite()):
        finite = value[value.isfinite()]
        if finite.numel() == 0:
            return None
        low, high = torch.aminmax(finite)
    return (low.item(), high.item())


def materialize(checkpoint: Any) -> Any:
    """A plain dict for a lazy safetensors mapping (every tensor read); anything else as is."""
    if isinstance(checkpoint, SafetensorsStateDict):
        return {key: checkpoint[key] for key in checkpoint}
    return checkpoint
