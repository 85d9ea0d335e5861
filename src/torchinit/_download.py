"""Downloads into the cache: once, complete, verified, or not at all.

A URL is cached as ``$TORCHINIT_HOME/checkpoints/<first 16 hex of sha256(url)>-<file name>``,
so two URLs that end in the same file name never share an entry. The body goes to a hidden
temporary file in the same directory and is renamed into place only when it is complete
(as long as ``Content-Length`` said), is not an HTML page, and matches the SHA-256 prefix
of a ``name-<hex>.ext`` file name (torch.hub's convention). Any failure removes the
temporary file. A cached file whose name carries a hash is checked again on every use, and
fetched anew if it no longer matches.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from ._serialization import looks_like_html
from .errors import CheckpointChecksumError, CheckpointCorruptError, CheckpointDownloadError, ConfigValueError

__all__ = ["DEFAULT_TIMEOUT", "cache_path", "cached_download", "get_torchinit_home", "hash_prefix"]

logger = logging.getLogger("torchinit")

ENV_HOME = "TORCHINIT_HOME"
ENV_TIMEOUT = "TORCHINIT_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 60.0
_CHUNK = 1 << 20
_HASH_RE = re.compile(r"-([0-9a-f]{8,64})\.[^./]+$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def get_torchinit_home() -> Path:
    """torchinit's cache and settings directory.

    ``$TORCHINIT_HOME`` if set, else ``$XDG_CACHE_HOME/torchinit``, else
    ``~/.cache/torchinit``. Downloads go to its ``checkpoints/`` folder; the user's model
    zoo is its ``open-mmlab.json``.
    """
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "torchinit"


def hash_prefix(url: str) -> str | None:
    """The SHA-256 prefix carried by a ``name-<hex>.ext`` file name (8 to 64 hex digits)."""
    match = _HASH_RE.search(_file_name(url))
    return match.group(1) if match else None


def _file_name(url: str) -> str:
    return urllib.parse.unquote(os.path.basename(urllib.parse.urlparse(url).path))


def cache_path(url: str) -> Path:
    """Where ``url`` is (or will be) cached; keyed by the whole URL."""
    name = _UNSAFE_CHARS.sub("_", _file_name(url)).lstrip(".") or "checkpoint"
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return get_torchinit_home() / "checkpoints" / f"{key}-{name}"


def resolve_timeout(timeout: float | None) -> float:
    """The keyword if given, else ``$TORCHINIT_DOWNLOAD_TIMEOUT``, else 60 seconds."""
    source = "timeout"
    if timeout is None:
        env = os.environ.get(ENV_TIMEOUT)
        if not env:
            return DEFAULT_TIMEOUT
        source = f"${ENV_TIMEOUT}"
        try:
            timeout = float(env)
        except ValueError:
            raise ConfigValueError(f"{source} must be a number of seconds, got {env!r}.") from None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigValueError(f"{source} must be a positive number of seconds, got {timeout!r}.")
    return float(timeout)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_download(url: str, *, timeout: float | None = None, progress: bool | None = None) -> Path:
    """The local copy of ``url``, downloading it first if the cache has no good copy.

    Args:
        url: an ``http://`` or ``https://`` address.
        timeout: seconds any connect or read may stall (see :func:`resolve_timeout`).
        progress: show a progress bar on stderr; default only when stderr is a terminal.

    Raises:
        CheckpointDownloadError: unreachable, an HTTP error, a stall, a short body.
        CheckpointCorruptError: the server sent an HTML page.
        CheckpointChecksumError: the body does not match the hash in the file name.
    """
    seconds = resolve_timeout(timeout)
    target = cache_path(url)
    expected = hash_prefix(url)
    if target.is_file():
        if expected is None or _sha256(target).startswith(expected):
            return target
        logger.warning("cached %s no longer matches its hash %s; downloading it again", target, expected)
        target.unlink(missing_ok=True)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    except OSError as exc:
        raise CheckpointDownloadError(f"cannot write to the cache directory {target.parent}: {exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out, seconds, sys.stderr.isatty() if progress is None else progress)
        if expected is not None and not digest.startswith(expected):
            raise CheckpointChecksumError(
                f"download of {url} has SHA-256 {digest}, but its file name says it starts with "
                f"{expected}: the file was damaged or replaced. Nothing was cached."
            )
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _fetch(url: str, out: BinaryIO, seconds: float, progress: bool) -> str:
    """Stream ``url`` into ``out``; return the SHA-256 of the body."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "torchinit"})
    try:
        with urllib.request.urlopen(request, timeout=seconds) as response:
            if response.headers.get_content_type() == "text/html":
                raise _html(url)
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            while chunk := response.read(_CHUNK):
                if received == 0 and looks_like_html(chunk[:64]):
                    raise _html(url)
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
                if progress:
                    _show_progress(url, received, total)
            if progress:
                sys.stderr.write("\n")
    except urllib.error.HTTPError as exc:
        exc.close()
        raise CheckpointDownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}.") from None
    except TimeoutError:
        raise _stalled(url, seconds) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):  # while connecting or reading the headers
            raise _stalled(url, seconds) from None
        raise CheckpointDownloadError(f"cannot reach {url}: {exc.reason}.") from None
    except (http.client.HTTPException, ConnectionError) as exc:
        raise CheckpointDownloadError(f"download of {url} broke off: {exc!r}.") from None
    if received == 0:
        raise CheckpointDownloadError(f"download of {url} returned an empty body.")
    if total is not None and received != total:
        raise CheckpointDownloadError(f"download of {url} is incomplete: got {received} of {total} bytes.")
    return digest.hexdigest()


def _stalled(url: str, seconds: float) -> CheckpointDownloadError:
    return CheckpointDownloadError(
        f"download of {url} stalled: no data for {seconds:g} s. Retry, or raise the limit with "
        f"timeout= or ${ENV_TIMEOUT}."
    )


def _html(url: str) -> CheckpointCorruptError:
    return CheckpointCorruptError(
        f"{url} served an HTML page instead of a checkpoint (an error or login page?). Nothing was cached; "
        "check the address in a browser."
    )


def _show_progress(url: str, received: int, total: int | None) -> None:
    mb = received / 1e6
    if total:
        text = f"\rDownloading {_file_name(url)}: {received / total:6.1%} ({mb:.1f}/{total / 1e6:.1f} MB)"
    else:
        text = f"\rDownloading {_file_name(url)}: {mb:.1f} MB"
    sys.stderr.write(text)
    sys.stderr.flush()
