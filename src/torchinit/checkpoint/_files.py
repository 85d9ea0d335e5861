"""Local checkpoint files: OS errors as checkpoint errors, and the identity of one version of a file.

Every way a checkpoint reaches the disk (a path, ``file://``, a download, a model-zoo entry,
a registered scheme) ends in :func:`open_regular`, so a path that is too long, runs through
a file or may not be read gives a :class:`CheckpointError` naming it, never a bare ``OSError``.
A :class:`FileIdentity` taken when a file is first read (or when a download is verified) is
compared again around every later read: a file replaced or rewritten in between is reported
instead of mixing two versions.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import CheckpointCorruptError, CheckpointError, CheckpointNotFoundError, CheckpointReadError

__all__ = [
    "FileIdentity",
    "check_unchanged",
    "describe_path",
    "looks_like_html",
    "open_regular",
    "path_error",
]

_SHOWN_PATH = 160


def looks_like_html(head: bytes) -> bool:
    """True if ``head`` (the first bytes of a file) starts like an HTML or XML page."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body", b"<!--"))


def describe_path(path: str | os.PathLike[str]) -> str:
    """``path`` quoted for a message; a very long one shortened in the middle, with its length."""
    text = os.fspath(path)
    if len(text) <= _SHOWN_PATH:
        return repr(text)
    half = _SHOWN_PATH // 2
    return f"{text[:half]!r}...{text[-half:]!r} ({len(text)} characters)"


def path_error(exc: OSError | ValueError, source: str, path: Path | None = None) -> CheckpointError:
    """The checkpoint error for an ``OSError`` (or a path with a NUL byte) met opening ``source``
    (a name for messages; ``path`` is the local path it stands for, when that differs)."""
    where = describe_path(source)
    code = getattr(exc, "errno", None)
    if isinstance(exc, ValueError):  # os.stat('a\0b'): embedded null byte
        return CheckpointNotFoundError(
            f"checkpoint {where} cannot name a file: the path contains a NUL byte."
        )
    if code == errno.ENAMETOOLONG:
        return CheckpointNotFoundError(
            f"checkpoint {where} cannot name a file: the path is too long for the file system "
            "(most allow 255 bytes per name and 4096 in all). Check how the path was built."
        )
    if code == errno.ENOTDIR:
        return CheckpointNotFoundError(
            f"checkpoint {where} does not exist: a part of the path before its last name is a file, "
            "not a directory."
        )
    if code == errno.EISDIR:
        return CheckpointNotFoundError(f"checkpoint {where} is a directory, not a file; name the file in it.")
    if code == errno.ELOOP:
        return CheckpointNotFoundError(
            f"checkpoint {where} cannot be opened: its symbolic links form a loop."
        )
    if code == errno.ENOENT:
        shown = Path(path if path is not None else source).absolute()
        also = f" (looked at {describe_path(shown)})" if os.fspath(shown) != source else ""
        return CheckpointNotFoundError(f"checkpoint {where} does not exist{also}.")
    if code in (errno.EACCES, errno.EPERM):
        return CheckpointReadError(
            f"checkpoint {where} cannot be read: permission denied. Check the permissions of the file "
            "and of the directories above it."
        )
    return CheckpointReadError(f"checkpoint {where} cannot be read: {exc.strerror or exc}.")


@dataclass(frozen=True)
class FileIdentity:
    """One version of a file: a rewrite changes the size or the modification time, a
    replacement the inode. Equal identities mean the bytes read are those first seen."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def check_unchanged(identity: FileIdentity, path: Path, source: str, file: BinaryIO | None = None) -> None:
    """Raise unless both the open ``file`` and whatever ``path`` names now still have ``identity``."""
    try:
        now: list[FileIdentity | None] = [FileIdentity.of(os.stat(path))]
        if file is not None:
            now.append(FileIdentity.of(os.fstat(file.fileno())))
    except (OSError, ValueError):
        now = [None]
    if any(n != identity for n in now):
        raise changed_error(source)


def changed_error(source: str) -> CheckpointCorruptError:
    return CheckpointCorruptError(
        f"checkpoint {describe_path(source)} changed while it was being read (its size, modification time "
        "or inode differs from when it was opened): another process is writing or replacing it. "
        "Nothing was loaded; retry once it is complete."
    )


def open_regular(
    path: Path, source: str, identity: FileIdentity | None = None
) -> tuple[BinaryIO, FileIdentity]:
    """Open ``path`` for reading if it is a regular file; return it and its identity.

    ``identity``, if given, is what the file must still be (e.g. when its hash was
    verified). A FIFO or device is refused before it is opened (opening could block).

    Raises:
        CheckpointNotFoundError: missing, a directory, a path no file can have.
        CheckpointReadError: permission denied, an I/O error, not a regular file.
        CheckpointCorruptError: the file is not the version ``identity`` describes.
    """
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointReadError(
                f"checkpoint {describe_path(source)} is not a regular file (a pipe, socket or device); "
                "copy it to a file first."
            )
        file = open(path, "rb")  # noqa: SIM115 (returned to the caller, who closes it)
    except (OSError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise path_error(exc, source, path) from None
    try:
        found = FileIdentity.of(os.fstat(file.fileno()))
        if found != FileIdentity.of(st) or (identity is not None and found != identity):
            raise changed_error(source)
    except BaseException:
        file.close()
        raise
    return file, found
