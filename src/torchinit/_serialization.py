"""Reading one checkpoint file safely: no pickle code runs unless the caller allows it.

* ``.safetensors`` (or any file with a safetensors header) opens lazily: only the header is
  read until a tensor is asked for, so loading a ``prefix`` reads only the tensors under it.
* Everything else goes through ``torch.load(weights_only=True)``, with numpy scalars, arrays
  and dtypes allowed (ordinary training metadata) and nothing more. ``weights_only`` is
  always passed explicitly, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot switch it off.
* An empty file, an HTML page, a truncated archive: :class:`CheckpointCorruptError`. A
  pickle that needs other globals: :class:`CheckpointUnsafeError` naming them and the opt-in.
"""

from __future__ import annotations

import json
import pickle
import re
import sys
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .errors import CheckpointCorruptError, CheckpointNotFoundError, CheckpointUnsafeError

__all__ = [
    "SafetensorsStateDict",
    "entry_shape",
    "is_tensor_entry",
    "looks_like_html",
    "materialize",
    "read_file",
]

_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)")


def looks_like_html(head: bytes) -> bool:
    """True if ``head`` (the first bytes of a file) starts like an HTML or XML page."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<!--"))


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return 0 < header_len <= size - 8 and head[8:9] == b"{"


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


def read_file(path: Path, *, source: str, map_location: Any, allow_pickle: bool) -> Mapping[str, Any]:
    """The checkpoint in ``path``; a :class:`SafetensorsStateDict` for safetensors files.

    Raises:
        CheckpointNotFoundError: ``path`` is missing or a directory.
        CheckpointCorruptError: the file is empty, HTML, truncated or not a checkpoint.
        CheckpointUnsafeError: loading needs pickle globals beyond tensors and numpy.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            size = f.seek(0, 2)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise CheckpointNotFoundError(f"checkpoint {source} {what}.") from None
    except OSError as exc:
        raise CheckpointCorruptError(f"checkpoint {source} cannot be read: {exc.strerror or exc}.") from None
    if size == 0:
        raise CheckpointCorruptError(
            f"checkpoint {source} is empty (0 bytes): an interrupted copy or download?"
        )
    if looks_like_html(head):
        raise CheckpointCorruptError(
            f"checkpoint {source} is an HTML page, not a checkpoint: probably an error or login page "
            "saved in its place. Download it again from its real address."
        )
    if path.suffix == ".safetensors" or _is_safetensors(head, size):
        return SafetensorsStateDict(path, source=source, device=map_location)
    return _torch_load(path, source=source, map_location=map_location, allow_pickle=allow_pickle)


def _torch_load(path: Path, *, source: str, map_location: Any, allow_pickle: bool) -> Any:
    try:
        if allow_pickle:
            return torch.load(path, map_location=map_location, weights_only=False)
        with torch.serialization.safe_globals(list(_numpy_globals())):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = _unsafe_globals(path, str(exc))
        if unsafe:
            raise CheckpointUnsafeError(
                f"refused to load {source}: it is a pickle that needs {', '.join(unsafe)} to load, and "
                "unpickling can run any code the file's author chose. torchinit only reads tensors, "
                "numpy values and plain containers by default. If you trust the file, pass "
                "allow_pickle=True (to load_checkpoint, or in the Pretrained config), or better, "
                "re-save it as safetensors."
            ) from None
        raise _corrupt(source, exc) from None
    except CheckpointUnsafeError:
        raise
    except Exception as exc:  # noqa: BLE001 (torch reports bad files as RuntimeError, EOFError, ...)
        raise _corrupt(source, exc) from None


def _corrupt(source: str, exc: BaseException) -> CheckpointCorruptError:
    reason = str(exc).strip().splitlines()
    text = next((line.strip() for line in reason if line.strip()), type(exc).__name__)
    return CheckpointCorruptError(
        f"checkpoint {source} is not a readable checkpoint (truncated or damaged?): {text[:300]}"
    )


def _unsafe_globals(path: Path, message: str) -> list[str]:
    """The globals a weights-only load refused, or [] if the failure was damage, not danger.

    A truncated pickle can cut a torch name short (``torch._utils._rebuild_tens``): a name in
    torch's namespace that does not exist means a damaged file, not a foreign one.
    """
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 (only zip checkpoints can be scanned; fall back to the message)
        names = _GLOBAL_RE.findall(message)
    names = [n for n in dict.fromkeys(names) if n not in _allowed_names()]
    if any(n.split(".")[0] == "torch" and not _resolves(n) for n in names):
        return []
    return names


@lru_cache(maxsize=1)
def _allowed_names() -> frozenset[str]:
    return frozenset(f"{getattr(g, '__module__', '')}.{getattr(g, '__name__', '')}" for g in _numpy_globals())


def _resolves(dotted: str) -> bool:
    """False only for a name in an imported module that lacks it; nothing is imported."""
    module, _, name = dotted.rpartition(".")
    loaded = sys.modules.get(module)
    return loaded is None or hasattr(loaded, name)


class SafetensorsStateDict(Mapping[str, Tensor]):
    """A safetensors file as a read-on-demand mapping: ``keys()`` and :meth:`shape` read
    only the header; ``self[key]`` reads that one tensor."""

    def __init__(self, path: Path, *, source: str, device: Any = None) -> None:
        self.path = path
        self.source = source
        self.device = str(device) if isinstance(device, (str, torch.device)) else "cpu"
        self._header = self._read_header()
        self.metadata: dict[str, str] = self._header.pop("__metadata__", None) or {}
        self._handle: Any = None

    def _read_header(self) -> dict[str, Any]:
        try:
            with open(self.path, "rb") as f:
                size = f.seek(0, 2)
                f.seek(0)
                header_len = int.from_bytes(f.read(8), "little")
                if not 0 < header_len <= size - 8:
                    raise ValueError(f"header length {header_len} does not fit a {size}-byte file")
                header = json.loads(f.read(header_len))
            if not isinstance(header, dict):
                raise TypeError("header is not a JSON object")
            end = max((e["data_offsets"][1] for k, e in header.items() if k != "__metadata__"), default=0)
            if 8 + header_len + end > size:
                raise ValueError(f"file is {size} bytes, its tensors need {8 + header_len + end}")
            return header
        except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise CheckpointCorruptError(
                f"checkpoint {self.source} is not a readable safetensors file (truncated or damaged?): {exc}"
            ) from None

    def shape(self, key: str) -> tuple[int, ...]:
        """The shape of ``key``, from the header alone."""
        return tuple(self._header[key]["shape"])

    def __getitem__(self, key: str) -> Tensor:
        if key not in self._header:
            raise KeyError(key)
        try:
            if self._handle is None:
                from safetensors import safe_open

                self._handle = safe_open(str(self.path), framework="pt", device=self.device)
            return self._handle.get_tensor(key)
        except Exception as exc:  # noqa: BLE001 (SafetensorError, OSError, ...)
            raise CheckpointCorruptError(
                f"checkpoint {self.source}: cannot read tensor {key!r}: {exc}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._header

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._header else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._header)

    def __len__(self) -> int:
        return len(self._header)


# --------------------------------------------------------------------------- entries of any mapping
def is_tensor_entry(state: Mapping[str, Any], key: str) -> bool:
    """True if ``state[key]`` is a tensor (without reading it from a lazy file)."""
    return isinstance(state, SafetensorsStateDict) or isinstance(state.get(key), Tensor)


def entry_shape(state: Mapping[str, Any], key: str) -> tuple[int, ...] | None:
    """The shape of ``state[key]``, or None if it is not a tensor; reads no tensor data."""
    if isinstance(state, SafetensorsStateDict):
        return state.shape(key)
    value = state.get(key)
    return tuple(value.shape) if isinstance(value, Tensor) else None


def materialize(checkpoint: Any) -> Any:
    """A plain dict for a lazy safetensors mapping (every tensor read); anything else as is."""
    if isinstance(checkpoint, SafetensorsStateDict):
        return {key: checkpoint[key] for key in checkpoint}
    return checkpoint
