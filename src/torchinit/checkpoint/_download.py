"""Downloads into the cache: once, complete, verified, or not at all.

A URL is cached as ``$TORCHINIT_HOME/checkpoints/<first 16 hex of sha256(url)>-<file name>``,
so two URLs that end in the same file name never share an entry. The body goes to a hidden
temporary file in the same directory and is renamed into place only when it is complete
(as long as ``Content-Length`` said), is not an HTML page, and matches the SHA-256 prefix
of a ``name-<hex>.ext`` file name (torch.hub's convention). Any failure removes the
temporary file and leaves an earlier cached copy as it was. A cached file whose name
carries a hash is checked again on every use, and fetched anew if it no longer matches.

Two limits bound a download: ``timeout`` (``$TORCHINIT_DOWNLOAD_TIMEOUT``, default 60 s),
how long any connect or read may wait for data, and ``deadline``
(``$TORCHINIT_DOWNLOAD_DEADLINE``, default one hour), how long the whole download may
take: a server that drips a byte now and then passes the first and fails the second. The
transfer itself is :mod:`._transfer`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import (
    CheckpointChecksumError,
    CheckpointDownloadError,
    CheckpointNotFoundError,
    ConfigTypeError,
    ConfigValueError,
)
from ._files import FileIdentity, changed_error, describe_path, open_regular
from ._transfer import CHUNK, ENV_DEADLINE, ENV_HOME, ENV_TIMEOUT, fetch, file_name

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_TIMEOUT",
    "Download",
    "cache_path",
    "cached_download",
    "download",
    "evict",
    "get_torchinit_home",
    "hash_prefix",
    "resolve_deadline",
    "resolve_timeout",
]

logger = logging.getLogger("torchinit")

DEFAULT_TIMEOUT = 60.0
DEFAULT_DEADLINE = 3600.0
MAX_SECONDS = 7 * 24 * 3600.0
"""A week: the largest timeout or deadline accepted (sockets and timers overflow far beyond)."""
_HASH_RE = re.compile(r"-([0-9a-f]{8,64})\.[^./]+$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def get_torchinit_home() -> Path:
    """torchinit's cache and settings directory.

    ``$TORCHINIT_HOME`` if set, else ``$XDG_CACHE_HOME/torchinit``, else
    ``~/.cache/torchinit``. Downloads go to its ``checkpoints/`` folder; the user's model
    zoo is its ``open-mmlab.json``.

    Raises:
        ConfigValueError: ``$TORCHINIT_HOME`` starts with ``~user`` for a user that does not exist.
    """
    home = os.environ.get(ENV_HOME)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    try:
        return Path(home).expanduser() if home else Path(cache).expanduser() / "torchinit"
    except RuntimeError:  # '~nobody/...': no such user
        name = ENV_HOME if home else "XDG_CACHE_HOME"
        raise ConfigValueError(
            f"${name}={home or cache!r} starts with a home directory that cannot be found; set it to a "
            "full path (or unset it for the default ~/.cache/torchinit)."
        ) from None


def hash_prefix(url: str) -> str | None:
    """The SHA-256 prefix carried by a ``name-<hex>.ext`` file name (8 to 64 hex digits)."""
    match = _HASH_RE.search(file_name(url))
    return match.group(1) if match else None


def cache_path(url: str) -> Path:
    """Where ``url`` is (or will be) cached; keyed by the whole URL."""
    name = _UNSAFE_CHARS.sub("_", file_name(url)).lstrip(".") or "checkpoint"
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return get_torchinit_home() / "checkpoints" / f"{key}-{name[:200]}"


def _seconds(value: Any, keyword: str, env: str, default: float) -> float:
    """``value`` if given, else ``$env``, else ``default``: a number of seconds in (0, a week]."""
    allowed = f"a number of seconds above 0 and at most {MAX_SECONDS:g} (a week), e.g. {default:g}"
    if value is None:
        raw = os.environ.get(env, "")
        if not raw.strip():
            return default
        try:
            number = float(raw)
        except ValueError:
            number = float("nan")
        if not 0 < number <= MAX_SECONDS:  # also false for nan
            raise ConfigValueError(
                f"${env}={raw!r} is not allowed: it must be {allowed}. Fix or unset it "
                f"(unset: {default:g} s)."
            )
        return number
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigTypeError(f"{keyword} must be {allowed}, got {type(value).__name__} {value!r}.")
    if not 0 < value <= MAX_SECONDS:  # exact for big ints, false for nan
        raise ConfigValueError(f"{keyword}={value!r} is not allowed: it must be {allowed}.")
    return float(value)


def resolve_timeout(timeout: float | None) -> float:
    """How long one connect or read may wait: the keyword if given, else
    ``$TORCHINIT_DOWNLOAD_TIMEOUT``, else 60 seconds."""
    return _seconds(timeout, "timeout", ENV_TIMEOUT, DEFAULT_TIMEOUT)


def resolve_deadline(deadline: float | None) -> float:
    """How long a whole download may take: the keyword if given, else
    ``$TORCHINIT_DOWNLOAD_DEADLINE``, else one hour."""
    return _seconds(deadline, "deadline", ENV_DEADLINE, DEFAULT_DEADLINE)


@dataclass(frozen=True)
class Download:
    """A cached download: the file, the version of it that was verified, and whether it was
    fetched by this call (a fresh copy that proves unreadable can be evicted)."""

    path: Path
    identity: FileIdentity
    fresh: bool


def cached_download(
    url: str, *, timeout: float | None = None, progress: bool | None = None, deadline: float | None = None
) -> Path:
    """The local copy of ``url``, downloading it first if the cache has no good copy.

    See :func:`download` for the arguments and errors.
    """
    return download(url, timeout=timeout, progress=progress, deadline=deadline).path


def download(
    url: str, *, timeout: float | None = None, progress: bool | None = None, deadline: float | None = None
) -> Download:
    """The cached copy of ``url`` and its verified identity, downloading it if needed.

    Args:
        url: an ``http://`` or ``https://`` address.
        timeout: seconds any connect or read may wait for data (see :func:`resolve_timeout`).
        progress: show a progress bar on stderr; default only when stderr is a terminal.
        deadline: seconds the whole download may take (see :func:`resolve_deadline`).

    Raises:
        ConfigTypeError, ConfigValueError: a bad ``timeout``/``deadline`` or environment value.
        CheckpointDownloadError: unreachable, an HTTP error, a stall, the deadline, a short body.
        CheckpointCorruptError: the server sent an HTML page.
        CheckpointChecksumError: the body does not match the hash in the file name.
    """
    seconds, limit = resolve_timeout(timeout), resolve_deadline(deadline)
    target = cache_path(url)
    expected = hash_prefix(url)
    identity = _good_copy(target, expected)
    if identity is not None:
        return Download(target, identity, fresh=False)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:100]}.", suffix=".partial")
    except OSError as exc:
        raise CheckpointDownloadError(
            f"cannot write to the cache directory {describe_path(target.parent)}: {exc.strerror or exc}. "
            f"Set ${ENV_HOME} to a writable directory."
        ) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = fetch(url, out, seconds, limit, sys.stderr.isatty() if progress is None else progress)
            out.flush()
            identity = FileIdentity.of(os.fstat(out.fileno()))
        if expected is not None and not digest.startswith(expected):
            raise CheckpointChecksumError(
                f"download of {url} has SHA-256 {digest}, but its file name says it starts with "
                f"{expected}: the file was damaged or replaced. Nothing was cached."
            )
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise CheckpointDownloadError(
                f"cannot put the download of {url} into the cache at {describe_path(target)}: "
                f"{exc.strerror or exc}."
            ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Download(target, identity, fresh=True)


def _good_copy(target: Path, expected: str | None) -> FileIdentity | None:
    """The identity of the cached ``target`` if it is there and matches ``expected``."""
    try:
        file, identity = open_regular(target, str(target))
    except CheckpointNotFoundError:
        return None
    with file:
        if expected is None:
            return identity
        digest = hashlib.sha256()
        try:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
        except OSError:
            return None
        if FileIdentity.of(os.fstat(file.fileno())) != identity:
            raise changed_error(str(target))
    if digest.hexdigest().startswith(expected):
        return identity
    logger.warning("cached %s no longer matches its hash %s; downloading it again", target, expected)
    return None


def evict(found: Download) -> None:
    """Remove a fresh download that proved unreadable, unless another process replaced it since."""
    try:
        if found.fresh and FileIdentity.of(os.stat(found.path)) == found.identity:
            found.path.unlink()
    except OSError:
        pass
