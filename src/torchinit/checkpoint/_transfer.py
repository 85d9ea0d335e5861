"""One HTTP(S) transfer of a download (see :mod:`._download`): streamed, hashed, bounded in time.

``timeout`` bounds how long any connect or read may wait for data; the ``deadline`` bounds
the whole transfer: a timer shuts down its sockets when it expires, whatever read they are
blocked in, so a server that drips a byte now and then fails too. Every failure is a
:class:`~torchinit.errors.CheckpointError` that says what to change.
"""

from __future__ import annotations

import functools
import hashlib
import os
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, BinaryIO

from ..errors import CheckpointCorruptError, CheckpointDownloadError, CheckpointError
from ._files import looks_like_html

__all__ = ["CHUNK", "ENV_DEADLINE", "ENV_HOME", "ENV_TIMEOUT", "fetch", "file_name"]

ENV_HOME = "TORCHINIT_HOME"
ENV_TIMEOUT = "TORCHINIT_DOWNLOAD_TIMEOUT"
ENV_DEADLINE = "TORCHINIT_DOWNLOAD_DEADLINE"
CHUNK = 1 << 20


def file_name(url: str) -> str:
    return urllib.parse.unquote(os.path.basename(urllib.parse.urlparse(url).path))


class _Deadline:
    """Shuts down a download's sockets when its time is up, whatever read they are blocked in."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _watched(connection_class: Any, deadline: _Deadline, *args: Any, **kwargs: Any) -> Any:
    connection = connection_class(*args, **kwargs)
    connect = connection.connect

    def watched_connect() -> None:
        connect()
        deadline.watch(connection.sock)

    connection.connect = watched_connect
    return connection


class _Watching:
    """A handler mixin: every connection it opens is watched by the download's deadline."""

    deadline: _Deadline

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(functools.partial(_watched, http_class, self.deadline), req, **kwargs)  # type: ignore[misc]


class _HTTP(_Watching, urllib.request.HTTPHandler):
    pass


class _HTTPS(_Watching, urllib.request.HTTPSHandler):
    pass


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    handlers: list[_HTTP | _HTTPS] = [_HTTP(), _HTTPS()]
    for handler in handlers:
        handler.deadline = deadline
    return urllib.request.build_opener(*handlers)


def fetch(url: str, out: BinaryIO, seconds: float, limit: float, progress: bool) -> str:
    """Stream ``url`` into ``out`` within ``limit`` seconds; return the SHA-256 of the body."""
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "torchinit"})
    with _Deadline(limit) as deadline:
        try:
            with _opener(deadline).open(request, timeout=min(seconds, limit)) as response:
                if response.headers.get_content_type() == "text/html":
                    raise _html(url)
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                while chunk := response.read(CHUNK):
                    if out.tell() == 0 and looks_like_html(chunk[:64]):
                        raise _html(url)
                    digest.update(chunk)
                    _write(out, chunk, url)
                    if progress:
                        _show_progress(url, out.tell(), total)
                if progress:
                    sys.stderr.write("\n")
        except CheckpointError:
            if deadline.expired:
                raise _too_slow(url, limit, out.tell()) from None
            raise
        except Exception as exc:  # noqa: BLE001 (urllib, http.client and socket errors, mapped below)
            if deadline.expired:
                raise _too_slow(url, limit, out.tell()) from None
            raise _failed(url, exc, seconds) from None
        if deadline.expired:
            raise _too_slow(url, limit, out.tell())
    received = out.tell()
    if received == 0:
        raise CheckpointDownloadError(f"download of {url} returned an empty body.")
    if total is not None and received != total:
        raise CheckpointDownloadError(f"download of {url} is incomplete: got {received} of {total} bytes.")
    return digest.hexdigest()


def _write(out: BinaryIO, chunk: bytes, url: str) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise CheckpointDownloadError(
            f"cannot write the download of {url} into the cache: {exc.strerror or exc}. Free some space or "
            f"set ${ENV_HOME} to another directory."
        ) from None


def _failed(url: str, exc: Exception, seconds: float) -> CheckpointDownloadError:
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()
        return CheckpointDownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}.")
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):  # while connecting, reading the headers or the body
        return CheckpointDownloadError(
            f"download of {url} stalled: no data for {seconds:g} s. Retry, or raise the limit with "
            f"timeout= or ${ENV_TIMEOUT}."
        )
    if isinstance(exc, urllib.error.URLError):
        return CheckpointDownloadError(f"cannot reach {url}: {exc.reason}.")
    return CheckpointDownloadError(f"download of {url} broke off: {exc!r}.")


def _too_slow(url: str, limit: float, received: int) -> CheckpointDownloadError:
    return CheckpointDownloadError(
        f"download of {url} did not finish within its deadline of {limit:g} s ({received} bytes received): "
        f"the server is too slow. Nothing was cached; retry later, or raise the limit with "
        f"${ENV_DEADLINE} (seconds)."
    )


def _html(url: str) -> CheckpointCorruptError:
    return CheckpointCorruptError(
        f"{url} served an HTML page instead of a checkpoint (an error or login page?). Nothing was cached; "
        "check the address in a browser."
    )


def _show_progress(url: str, received: int, total: int | None) -> None:
    mb = received / 1e6
    if total:
        text = f"\rDownloading {file_name(url)}: {received / total:6.1%} ({mb:.1f}/{total / 1e6:.1f} MB)"
    else:
        text = f"\rDownloading {file_name(url)}: {mb:.1f} MB"
    sys.stderr.write(text)
    sys.stderr.flush()
