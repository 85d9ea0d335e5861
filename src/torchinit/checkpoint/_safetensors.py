"""Safetensors files, read lazily and checked field by field before any tensor is used.

The format: 8 bytes (little-endian header length N), N bytes of JSON mapping each name to
``{"dtype": "F32", "shape": [3, 4], "data_offsets": [begin, end]}`` (plus an optional
``"__metadata__"`` of strings), then the data; offsets count from the end of the header.

:class:`SafetensorsStateDict` validates the whole header when it is opened: a shape that
is not a list of non-negative ints, a byte range that does not hold exactly
``prod(shape) * dtype size`` bytes, ranges that are reversed, overlap, leave holes or
run past the end of the file (the format has the tensors tile the data exactly), an
unknown dtype: :class:`CheckpointCorruptError` naming the key. A tensor
is then built from the header's own dtype and shape over exactly its byte range (read
with plain file reads, never a memory map that a truncated file would turn into a crash),
and the file's identity is checked around every read.
"""

from __future__ import annotations

import ctypes
import json
import math
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import Tensor

from ..errors import CheckpointCorruptError
from ._files import FileIdentity, check_unchanged, describe_path, open_regular

__all__ = ["SafetensorsStateDict", "is_safetensors"]

DTYPES: dict[str, torch.dtype] = {
    "BOOL": torch.bool,
    "U8": torch.uint8,
    "I8": torch.int8,
    "I16": torch.int16,
    "I32": torch.int32,
    "I64": torch.int64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F32": torch.float32,
    "F64": torch.float64,
    "C64": torch.complex64,
}
"""safetensors dtype names -> torch dtypes; those of recent torch versions are added below."""
for _name, _attr in (
    ("U16", "uint16"),
    ("U32", "uint32"),
    ("U64", "uint64"),
    ("F8_E4M3", "float8_e4m3fn"),
    ("F8_E5M2", "float8_e5m2"),
    ("F8_E4M3FNUZ", "float8_e4m3fnuz"),
    ("F8_E5M2FNUZ", "float8_e5m2fnuz"),
):
    if hasattr(torch, _attr):
        DTYPES[_name] = getattr(torch, _attr)

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit
_MAX_NUMEL = 2**63 - 1  # torch sizes are int64


def is_safetensors(head: bytes, size: int) -> bool:
    """True if ``head`` (the first bytes of a ``size``-byte file) starts like a safetensors file."""
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return 0 < header_len <= size - 8 and head[8:9] == b"{"


@dataclass(frozen=True)
class _Entry:
    dtype: torch.dtype
    shape: tuple[int, ...]
    begin: int
    end: int


class _BadHeader(Exception):
    """Internal: what is wrong with a header, turned into a CheckpointCorruptError by the caller."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise _BadHeader(f"the key {next(k for k in names if names.count(k) > 1)!r} appears twice")
    return dict(pairs)


def _parse_entry(key: str, raw: Any) -> _Entry:
    if not isinstance(raw, dict):
        raise _BadHeader(f"{key!r}: its entry must be a JSON object, got {type(raw).__name__}")
    for field in ("dtype", "shape", "data_offsets"):
        if field not in raw:
            raise _BadHeader(f"{key!r}: its entry has no {field!r}")
    name, shape, offsets = raw["dtype"], raw["shape"], raw["data_offsets"]
    if not isinstance(name, str) or name not in DTYPES:
        known = ", ".join(DTYPES)
        raise _BadHeader(f"{key!r}: dtype {name!r} is not a safetensors dtype this torch reads ({known})")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _BadHeader(
            f"{key!r}: shape must be a list of non-negative integers, got {json.dumps(shape)[:80]}"
        )
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _BadHeader(
            f"{key!r}: data_offsets must be [begin, end] with 0 <= begin <= end, "
            f"got {json.dumps(offsets)[:80]}"
        )
    if math.prod(d for d in shape if d) > _MAX_NUMEL:
        raise _BadHeader(f"{key!r}: shape {json.dumps(shape)[:80]} has more elements than a tensor can hold")
    dtype = DTYPES[name]
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != offsets[1] - offsets[0]:
        raise _BadHeader(
            f"{key!r}: shape {shape} of {name} needs {nbytes} bytes, but data_offsets {offsets} hold "
            f"{offsets[1] - offsets[0]}"
        )
    return _Entry(dtype, tuple(shape), offsets[0], offsets[1])


def _parse_header(raw: bytes, data_size: int) -> tuple[dict[str, _Entry], dict[str, str]]:
    try:
        header = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, too deep
        raise _BadHeader(f"the header is not valid JSON ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(header, dict):
        raise _BadHeader(f"the header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _BadHeader("'__metadata__' must be an object of strings")
    entries = {key: _parse_entry(key, value) for key, value in header.items()}
    end, last = 0, None  # the format: tensors tile the data exactly, in offset order, no holes
    for key, entry in sorted(entries.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if entry.end > data_size:
            raise _BadHeader(
                f"{key!r}: its bytes [{entry.begin}, {entry.end}) run past the end of the data "
                f"({data_size} bytes): the file is truncated"
            )
        if entry.begin < end:
            raise _BadHeader(f"{key!r}: its bytes [{entry.begin}, {entry.end}) overlap those of {last!r}")
        if entry.begin > end:
            raise _BadHeader(f"{key!r}: its bytes start at {entry.begin}, leaving a hole after byte {end}")
        end, last = entry.end, key
    if end != data_size:
        raise _BadHeader(
            f"the tensors end at data byte {end} but the file holds {data_size}: {data_size - end} bytes "
            "belong to no tensor"
        )
    return entries, metadata


class SafetensorsStateDict(Mapping[str, Tensor]):
    """A safetensors file as a read-on-demand mapping: ``keys()``, :meth:`shape` and
    :meth:`dtype` come from the (validated) header; ``self[key]`` reads that one tensor.

    Args:
        path: the file.
        source: its name in messages (the path, URL or ``scheme://name`` asked for).
        device: where tensors are put (a device string or ``torch.device``; else the CPU).
        identity: the version of the file that must be read (from an earlier open or a
            verified download); default: the version found when the header is read.

    Raises:
        CheckpointCorruptError: when opened, for any header fault; when a tensor is read,
            if the file changed or is shorter than its header says.
    """

    def __init__(
        self, path: Path, *, source: str, device: Any = None, identity: FileIdentity | None = None
    ) -> None:
        self.path = path
        self.source = source
        self.device = torch.device(device) if isinstance(device, (str, torch.device)) else torch.device("cpu")
        file, self.identity = open_regular(path, source, identity)
        with file:
            try:
                self._entries, self.metadata = self._read_header(file, self.identity.size)
            except _BadHeader as exc:
                raise CheckpointCorruptError(
                    f"checkpoint {describe_path(source)} is not a valid safetensors file: {exc}. Download or "
                    "save it again."
                ) from None
            check_unchanged(self.identity, path, source, file)

    def _read_header(self, file: BinaryIO, size: int) -> tuple[dict[str, _Entry], dict[str, str]]:
        header_len = int.from_bytes(file.read(8), "little")
        if size < 8 or not 0 < header_len <= min(size - 8, _MAX_HEADER):
            raise _BadHeader(
                f"its header length {header_len} is not between 1 and {min(size - 8, _MAX_HEADER)} "
                f"(a {size}-byte file)"
            )
        self._data_start = 8 + header_len
        return _parse_header(file.read(header_len), size - self._data_start)

    def shape(self, key: str) -> tuple[int, ...]:
        """The shape of ``key``, from the header alone."""
        return self._entries[key].shape

    def dtype(self, key: str) -> torch.dtype:
        """The dtype of ``key``, from the header alone."""
        return self._entries[key].dtype

    def __getitem__(self, key: str) -> Tensor:
        entry = self._entries[key]
        nbytes = entry.end - entry.begin
        tensor = torch.empty(nbytes, dtype=torch.uint8)
        file, _ = open_regular(self.path, self.source, self.identity)
        with file:
            file.seek(self._data_start + entry.begin)
            got = file.readinto(_writable(tensor)) if nbytes else 0  # type: ignore[attr-defined]  # a buffered reader
            check_unchanged(self.identity, self.path, self.source, file)
        if got != nbytes:
            raise CheckpointCorruptError(
                f"checkpoint {describe_path(self.source)}: tensor {key!r} is cut short ({got} of {nbytes} "
                "bytes): the file is truncated. Download or save it again."
            )
        if not nbytes:
            return torch.empty(entry.shape, dtype=entry.dtype, device=self.device)
        if entry.dtype == torch.bool and int(tensor.max()) > 1:
            raise CheckpointCorruptError(
                f"checkpoint {describe_path(self.source)}: bool tensor {key!r} holds bytes other than 0 "
                "and 1: the file is damaged. Download or save it again."
            )
        if sys.byteorder == "big" and entry.dtype.itemsize > 1:  # safetensors data is little-endian
            tensor = tensor.view(-1, entry.dtype.itemsize).flip(-1).contiguous()
        return tensor.view(entry.dtype).reshape(entry.shape).to(self.device)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._entries else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _writable(tensor: Tensor) -> ctypes.Array:
    """The bytes of a contiguous CPU ``tensor`` as a writable buffer, so that a file read lands
    in it directly (no zero-filled bytearray first, no second copy); ``tensor`` must outlive it."""
    return (ctypes.c_ubyte * tensor.nbytes).from_address(tensor.data_ptr())
