"""Where a checkpoint comes from: one loader per URI scheme.

Built in, longest prefix first: ``torchvision://`` and ``open-mmlab://`` (also
``openmmlab://``) look the name up in the model zoo; ``http://`` and ``https://`` download
into the cache; ``file://`` and plain paths read the local file. Every built-in source ends
as a local file read by :func:`torchinit._serialization.read_file`, so the same safety
checks hold whichever way a checkpoint arrives. :func:`register_scheme` adds more.
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

from . import _download, _model_zoo
from ._serialization import read_file
from .errors import (
    CheckpointFormatError,
    CheckpointNotFoundError,
    ConfigTypeError,
    RegistryError,
    UnknownSchemeError,
)
from .registry import describe_value, did_you_mean

__all__ = ["Opened", "SchemeLoader", "known_schemes", "open_checkpoint", "register_scheme"]

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


@dataclass(frozen=True)
class _Located:
    path: Path
    source: str


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
) -> Opened:
    """Find ``filename`` by its scheme and read it (lazily for safetensors).

    Raises:
        UnknownSchemeError: ``foo://`` with no loader; the message lists the known ones.
        CheckpointError: any other subclass, from finding, downloading or reading.
    """
    if isinstance(filename, os.PathLike):
        filename = os.fspath(filename)
    if not isinstance(filename, str):
        raise ConfigTypeError(f"checkpoint must be a path or URL string, got {describe_value(filename)}.")
    options = _Options(map_location, allow_pickle, timeout)
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
    checkpoint = read_file(
        found.path, source=found.source, map_location=options.map_location, allow_pickle=options.allow_pickle
    )
    return Opened(checkpoint, found.source)


# --------------------------------------------------------------------------- built-in loaders
def _local(filename: str, options: _Options) -> _Located:
    path = Path(filename).expanduser()
    if not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "does not exist"
        raise CheckpointNotFoundError(f"checkpoint {filename!r} {what} (looked at {path.absolute()}).")
    return _Located(path, filename)


def _file_url(filename: str, options: _Options) -> _Located:
    parsed = urllib.parse.urlparse(filename)
    if parsed.netloc not in ("", "localhost"):
        raise CheckpointNotFoundError(
            f"checkpoint {filename!r} names the host {parsed.netloc!r}; file:// URLs must be local."
        )
    located = _local(urllib.request.url2pathname(parsed.path), options)
    return _Located(located.path, filename)


def _http(filename: str, options: _Options) -> _Located:
    return _Located(_download.cached_download(filename, timeout=options.timeout), filename)


def _zoo(filename: str, options: _Options) -> _Located:
    target = _model_zoo.resolve(filename)
    if target.startswith(("http://", "https://")):
        found = _http(target, options)
    elif target.startswith("file://"):
        found = _file_url(target, options)
    else:
        path = Path(target).expanduser()
        if not path.is_absolute():
            path = _download.get_torchinit_home() / path
        found = _local(str(path), options)
    return _Located(found.path, f"{filename} ({target})")


for _prefix, _loader in (
    ("file://", _file_url),
    ("http://", _http),
    ("https://", _http),
    ("torchvision://", _zoo),
    ("open-mmlab://", _zoo),
    ("openmmlab://", _zoo),
):
    _SCHEMES[_prefix] = _loader
