"""Model-zoo names: ``torchvision://resnet50``, ``open-mmlab://resnet50_v1c``.

Each scheme has a table shipped with torchinit (``model_zoo/*.json``: name -> URL or path),
merged with the user's file of the same kind in :func:`get_torchinit_home`; the user's
entry wins. A value is an ``http(s)://`` or ``file://`` URL, or a path (relative paths are
relative to the torchinit home), as in mmcv's ``open_mmlab.json``.

=====================================  ===================  ======================================
scheme                                 shipped table        user files (first wins)
=====================================  ===================  ======================================
``torchvision://``                     ``torchvision.json`` ``torchvision.json``
``open-mmlab://``, ``openmmlab://``    ``open_mmlab.json``  ``open-mmlab.json``, ``open_mmlab.json``
=====================================  ===================  ======================================
"""

from __future__ import annotations

import errno
import json
from importlib import resources
from pathlib import Path

from ..errors import ModelZooError
from ..registry import close_matches
from ._download import get_torchinit_home
from ._files import describe_path, path_error

__all__ = ["load_table", "resolve"]

_TABLES = {
    "torchvision://": ("torchvision.json", ("torchvision.json",)),
    "open-mmlab://": ("open_mmlab.json", ("open-mmlab.json", "open_mmlab.json")),
    "openmmlab://": ("open_mmlab.json", ("open-mmlab.json", "open_mmlab.json")),
}


def _read_json(text: str, where: str) -> dict[str, str]:
    try:
        table = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError; nested too deep
        raise ModelZooError(f"model zoo file {where} is not valid JSON: {str(exc)[:200]}.") from None
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in table.items()
    ):
        raise ModelZooError(f"model zoo file {where} must be one JSON object of name -> URL or path strings.")
    return table


def load_table(scheme: str) -> dict[str, str]:
    """The merged name -> URL/path table for ``scheme`` (``'open-mmlab://'``)."""
    shipped, user_files = _TABLES[scheme]
    text = (resources.files("torchinit") / "model_zoo" / shipped).read_text(encoding="utf-8")
    table = _read_json(text, f"torchinit/model_zoo/{shipped}")
    home = get_torchinit_home()
    for name in reversed(user_files):  # the first listed is applied last, so it wins
        user_text = _read_user_file(Path(home) / name)
        if user_text is not None:
            table.update(_read_json(user_text, str(Path(home) / name)))
    return table


def _read_user_file(path: Path) -> str | None:
    """The text of a user's table, or None if there is none (no file; a home no file can be in).

    Raises:
        CheckpointReadError: the file is there but may not be read.
        ModelZooError: it is not UTF-8 text.
    """
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ModelZooError(f"model zoo file {describe_path(path)} is not UTF-8 text: {exc}.") from None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG):
            return None
        raise path_error(exc, str(path)) from None


def resolve(uri: str) -> str:
    """The URL or path that ``scheme://NAME`` stands for.

    Raises:
        ModelZooError: NAME is in no table; the message lists close names.
    """
    scheme = next(s for s in _TABLES if uri.startswith(s))
    name = uri[len(scheme) :]
    table = load_table(scheme)
    if name in table:
        return table[name]
    hints = close_matches(name, table, n=5)
    hint = (
        f" Close names: {', '.join(hints)}."
        if hints
        else f" Known names: {', '.join(sorted(table)[:10])}, ..."
    )
    user = get_torchinit_home() / _TABLES[scheme][1][0]
    raise ModelZooError(
        f"{uri!r}: {name!r} is in no model-zoo table for {scheme}.{hint} Add your own entries to {user}."
    )
