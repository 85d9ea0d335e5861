"""Where a checkpoint comes from: one loader per URI scheme.

Built in, longest prefix first: ``torchvision://`` and ``open-mmlab://`` (also
``openmmlab://``) look the name up in the model zoo; ``http://`` and ``https://`` download
into the cache; ``file://`` and plain paths read the local file. Every built-in source ends
as a local file read by :func:`torchinit.checkpoint._serialization.read_file`, so the same safety
checks hold whichever way a checkpoint arrives. :func:`register_scheme` adds more.

``map_location`` is checked before any loader sees it: a device this machine does not have
(``'cuda'`` without a GPU) is a :class:`CheckpointDeviceError`, not a damaged file.
"""

from __future__ import annotations

import os
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from ..errors import (
    CheckpointCorruptError,
    CheckpointDeviceError,
    CheckpointFormatError,
    CheckpointNotFoundError,
    ConfigTypeError,
    RegistryError,
    UnknownSchemeError,
)
from ..registry import describe_value, did_you_mean
from . import _download, _model_zoo
from ._files import FileIdentity
from ._serialization import read_file

__all__ = [
    "Opened",
    "SchemeLoader",
    "check_map_location",
    "known_schemes",
    "open_checkpoint",
    "register_scheme",
]

SchemeLoader = Callable[[str, Any], "Mapping[str, Any] | str | os.PathLike[str]"]
"""``loader(filename, map_location)``: the checkpoint itself (a mapping), or a local path
that torchinit then reads with its safe reader."""

_L = TypeVar("_L", bound=SchemeLoader)
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


@dataclass(frozen=True)
class Opened:
    """A checkpoint that was found and read: the object, and where it came from (for messages)."""

    checkpoint: Any
    source: str


@dataclass(frozen=True)
class _Options:
    map_location: Any
    allow_pickle: bool
    timeout: float | None
    deadline: float | None


@dataclass(frozen=True)
class _Located:
    """A local file to read: its path, its name in messages, and for downloads the verified
    version of it (the file read must still be that one) and whether it was just fetched."""

    path: Path
    source: str
    download: _download.Download | None = None

    @property
    def identity(self) -> FileIdentity | None:
        return self.download.identity if self.download is not None else None


_BuiltinLoader = Callable[[str, _Options], "_Located | Mapping[str, Any]"]
_SCHEMES: dict[str, _BuiltinLoader] = {}


def register_scheme(prefixes: str | Iterable[str], loader: _L | None = None, *, force: bool = False) -> Any:
    """Read checkpoints whose name starts with ``prefixes`` through ``loader``.

    Usable as a call or a decorator. The longest matching prefix wins, so ``'s3://bucket/'``
    can override ``'s3://'``.

    Args:
        prefixes: one prefix or several (``'s3://'``).
        loader: ``loader(filename, map_location)`` returning the checkpoint mapping, or a
            local path for torchinit to read safely (recommended: it keeps the safety
            checks and lazy safetensors reading).
        force: replace an existing loader for the same prefix (built-ins included).

    Example::

        @register_scheme('s3://')
        def load_s3(filename, map_location):
            return download_from_s3(filename)  # a local path: torchinit reads it safely
    """
    names = [prefixes] if isinstance(prefixes, str) else list(prefixes)
    for prefix in names:
        if not isinstance(prefix, str) or not prefix:
            raise ConfigTypeError(
                f"register_scheme: a prefix must be a non-empty str, got {describe_value(prefix)}."
            )
        if prefix in _SCHEMES and not force:
            raise RegistryError(
                f"register_scheme: {prefix!r} already has a loader; pass force=True to replace it."
            )

    def add(fn: _L) -> _L:
        if not callable(fn):
            raise ConfigTypeError(f"register_scheme: loader must be callable, got {describe_value(fn)}.")

        def call(filename: str, options: _Options) -> _Located | Mapping[str, Any]:
            result = fn(filename, options.map_location)
            if isinstance(result, (str, os.PathLike)):
                return _Located(Path(result), f"{filename} ({os.fspath(result)})")
            if isinstance(result, Mapping):
                return result
            raise CheckpointFormatError(
                f"the loader registered for {filename!r} returned {describe_value(result)}; it must "
                "return the checkpoint (a mapping) or a local file path."
            )

        for prefix in names:
            _SCHEMES[prefix] = call
        return fn

    return add if loader is None else add(loader)


def known_schemes() -> list[str]:
    """The registered prefixes, sorted."""
    return sorted(_SCHEMES)


def open_checkpoint(
    filename: str | os.PathLike[str],
    *,
    map_location: Any = None,
    allow_pickle: bool = False,
    timeout: float | None = None,
    deadline: float | None = None,
) -> Opened:
    """Find ``filename`` by its scheme and read it (lazily for safetensors).

    ``timeout`` and ``deadline`` bound an ``http(s)://`` download (see
    :func:`torchinit.checkpoint._download.download`; None: their environment variables or defaults).

    Raises:
        CheckpointDeviceError: ``map_location`` names a device this machine lacks (checked first).
        UnknownSchemeError: ``foo://`` with no loader; the message lists the known ones.
        CheckpointError: any other subclass, from finding, downloading or reading.
    """
    if isinstance(filename, os.PathLike):
        filename = os.fspath(filename)
    if not isinstance(filename, str):
        raise ConfigTypeError(f"checkpoint must be a path or URL string, got {describe_value(filename)}.")
    check_map_location(map_location)
    options = _Options(map_location, allow_pickle, timeout, deadline)
    for prefix in sorted(_SCHEMES, key=len, reverse=True):
        if filename.startswith(prefix):
            found = _SCHEMES[prefix](filename, options)
            break
    else:
        scheme = _SCHEME_RE.match(filename)
        if scheme:
            raise UnknownSchemeError(
                f"no loader for the scheme of {filename!r}. Known schemes: {', '.join(known_schemes())}."
                f"{did_you_mean(scheme.group(0), known_schemes())} Add one with torchinit.register_scheme()."
            )
        found = _local(filename, options)
    if isinstance(found, Mapping):
        return Opened(found, filename)
    try:
        checkpoint = read_file(
            found.path,
            source=found.source,
            map_location=options.map_location,
            allow_pickle=options.allow_pickle,
            identity=found.identity,
        )
    except CheckpointCorruptError:
        if found.download is not None:  # a fresh download that is no checkpoint: do not keep it
            _download.evict(found.download)
        raise
    return Opened(checkpoint, found.source)


def check_map_location(map_location: Any) -> None:
    """Raise unless every device ``map_location`` names exists on this machine.

    ``map_location`` is what ``torch.load`` takes: None, a device string or
    ``torch.device``, a dict of saved -> wanted locations, or a function (not checked).

    Raises:
        CheckpointDeviceError: not a device name, or a device this machine does not have.
        ConfigTypeError: neither of the forms above.
    """
    wanted = list(map_location.values()) if isinstance(map_location, Mapping) else [map_location]
    for target in wanted:
        if target is None or (callable(target) and not isinstance(target, str)):
            continue
        if not isinstance(target, (str, torch.device)):
            raise ConfigTypeError(
                "map_location must be a device string ('cpu', 'cuda:0'), a torch.device, a dict or a "
                f"function, got {describe_value(target)}."
            )
        try:
            device = torch.device(target)
        except (RuntimeError, ValueError):
            raise CheckpointDeviceError(
                f"map_location={str(target)!r} is not a device name; use 'cpu', 'cuda', 'cuda:0', 'mps', ..."
            ) from None
        if device.type in ("cpu", "meta"):
            continue
        count = _device_count(device.type)
        if count == 0:
            raise CheckpointDeviceError(
                f"map_location={str(target)!r}: this machine has no {device.type} device. Read the "
                "checkpoint with map_location='cpu'; loading copies each tensor to its parameter's "
                "device anyway."
            )
        if device.index is not None and device.index >= count:
            raise CheckpointDeviceError(
                f"map_location={str(target)!r}: this machine has {count} {device.type} device(s), numbered "
                f"0 to {count - 1}. Use one of those, or map_location='cpu'."
            )


def _device_count(kind: str) -> int:
    """How many devices of type ``kind`` ('cuda', 'mps', 'xpu', ...) are usable; 0 if none or unknown."""
    try:
        get = getattr(torch, "get_device_module", None)
        module = get(kind) if get is not None else getattr(torch, kind)
        if not module.is_available():
            return 0
        return int(module.device_count()) if hasattr(module, "device_count") else 1
    except Exception:  # noqa: BLE001 (a backend torch has no module for: none usable)
        return 0


# --------------------------------------------------------------------------- built-in loaders
def _local(filename: str, options: _Options) -> _Located:
    """A local path (read_file reports what is wrong with it)."""
    try:
        return _Located(Path(filename).expanduser(), filename)
    except RuntimeError:  # '~nobody/model.pth'
        raise CheckpointNotFoundError(
            f"checkpoint {filename[:200]!r} starts with a home directory that cannot be found; "
            "give the full path."
        ) from None


def _file_url(filename: str, options: _Options) -> _Located:
    parsed = urllib.parse.urlparse(filename)
    if parsed.netloc not in ("", "localhost"):
        raise CheckpointNotFoundError(
            f"checkpoint {filename!r} names the host {parsed.netloc!r}; file:// URLs must be local."
        )
    located = _local(urllib.request.url2pathname(parsed.path), options)
    return _Located(located.path, filename)


def _http(filename: str, options: _Options) -> _Located:
    found = _download.download(filename, timeout=options.timeout, deadline=options.deadline)
    return _Located(found.path, filename, found)


def _zoo(filename: str, options: _Options) -> _Located:
    target = _model_zoo.resolve(filename)
    if target.startswith(("http://", "https://")):
        found = _http(target, options)
    elif target.startswith("file://"):
        found = _file_url(target, options)
    else:
        found = _local(target, options)
        if not found.path.is_absolute():
            found = _Located(_download.get_torchinit_home() / found.path, target)
    return _Located(found.path, f"{filename} ({target})", found.download)


for _prefix, _loader in (
    ("file://", _file_url),
    ("http://", _http),
    ("https://", _http),
    ("torchvision://", _zoo),
    ("open-mmlab://", _zoo),
    ("openmmlab://", _zoo),
):
    _SCHEMES[_prefix] = _loader
