"""Config files for the ``torchinit`` command: Python, YAML or JSON, inheritance, dotted overrides.

A config file defines the model the OpenMMLab way::

    # my_config.py
    _base_ = ['../_base_/models/retinanet.py']          # optional: inherit and change
    custom_imports = dict(imports=['mypkg.models'])     # modules that register the classes
    model = dict(backbone=dict(depth=50), init_cfg=dict(type='Kaiming', layer='Conv2d'))

``_base_`` works as mmengine's ``Config`` does: a path or a list of paths, relative to the
file that names them (in ``.py``, YAML and JSON files alike); the bases are read first and
may not share a top-level key; then the file's own values are merged in: a dict merges into
the base's dict key by key, any other value (lists too) replaces the base's, and a dict with
``_delete_=True`` replaces the base's dict instead of merging. What torchinit does not read:
a base's variables used in the file (``_base_.x`` in Python, ``{{_base_.x}}`` anywhere),
mmengine's ``{{fileDirname}}``/``{{$ENV}}`` substitutions, ``pkg::path`` bases and the
``with read_base():`` style; each of them is an error that says so, never a silent default.

``--cfg-options model.depth=34`` merges a value in by its dotted key path, with the same
rules (list items by index: ``model.init_cfg.0.type=Xavier``). Every mistake is raised as a
:class:`~torchinit.ConfigError` whose message starts with the file and the key path.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._config_errors import check_tree
from ._config_formats import (
    BASE_KEY,
    cwd_importable,
    no_base_variables,
    parse_python,
    python_base_value,
    read_json,
    read_text,
    read_yaml,
    run_python,
)
from ._config_merge import apply_cfg_options, merge
from .errors import ConfigKeyError, ConfigTypeError, ConfigValueError
from .registry import describe_value

__all__ = ["ConfigFile", "finish_config", "import_modules", "load_config"]

logger = logging.getLogger("torchinit")

MAX_BASE_DEPTH = 32  # files in one _base_ chain
_BASE_VARIABLE = re.compile(r"\{\{\s*_base_\.[\w.]*\s*\}\}")


@dataclass
class ConfigFile:
    """A config file as read: its top-level values and the modules imported for it.

    Attributes:
        path: the file ('' for a config given as a dict).
        data: the top-level names and their values (``model``, ``custom_imports``, ...),
            its bases merged in.
        imported: modules imported for it (``custom_imports`` and ``--import``), in order.
    """

    path: str
    data: dict[str, Any]
    imported: list[str] = field(default_factory=list)

    @property
    def model(self) -> dict[str, Any]:
        """The ``model`` dict (checked to exist and to be a dict by :func:`finish_config`)."""
        return self.data["model"]


def import_modules(names: Sequence[str], where: str, *, allow_failed: bool = False) -> list[str]:
    """Import ``names`` (the current directory is importable); return those imported.

    Raises:
        ConfigValueError: a module cannot be imported or raises while it is imported (named,
            with the reason); with ``allow_failed`` a module that is not found (ImportError,
            as in mmengine) is only logged as a warning.
    """
    done = []
    with cwd_importable():
        for name in names:
            try:
                importlib.import_module(name)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit too: a plugin's import never ends the command
                message = (
                    f"{where}: cannot import {name!r}: {exc}. The current directory ({os.getcwd()}) and "
                    "sys.path are searched; install the package or run from the directory that holds it."
                )
                if not isinstance(exc, ImportError):
                    message = f"{where}: importing {name!r} raised {type(exc).__name__}: {exc}"
                elif allow_failed:
                    logger.warning("%s", message)
                    continue
                raise ConfigValueError(message) from exc
            done.append(name)
    return done


def load_config(
    path: str | os.PathLike[str],
    *,
    cfg_options: Sequence[tuple[str, Any]] = (),
    imports: Sequence[str] = (),
) -> ConfigFile:
    """Read a config file and its bases, import what it needs, and merge in ``cfg_options``.

    Order: the ``imports`` (``--import``) first, so that a Python config can use them; then
    the bases and the file; then its ``custom_imports``; then the overrides
    (``(dotted key, value)`` pairs, as ``torchinit.cli`` parses ``--cfg-options``).

    Raises:
        ConfigError: a missing, unreadable or non-UTF-8 file, a syntax error (with line), an
            exception while running a Python config, a ``_base_`` that is missing or cyclic
            (the chain named), a value that contains itself, a bad ``custom_imports``, no
            ``model`` dict, or a bad override; the message starts with the file.
    """
    shown = os.fspath(path)
    imported = import_modules(imports, "--import")
    data = _read_tree(Path(path), shown, ())
    imported += _custom_imports(data.get("custom_imports"), shown)
    return finish_config(ConfigFile(shown, data, imported), cfg_options)


def finish_config(config: ConfigFile, cfg_options: Sequence[tuple[str, Any]] = ()) -> ConfigFile:
    """Merge in the overrides and check that ``config`` has a ``model`` dict that is a tree."""
    apply_cfg_options(config.data, cfg_options, config.path)
    data, shown = config.data, config.path
    if "model" not in data:
        names = ", ".join(sorted(map(str, data))) or "nothing"
        raise ConfigKeyError(
            f"{shown}: the config defines no 'model' (it defines: {names}). Add model = dict(type=..., ...)."
        )
    if not isinstance(data["model"], Mapping):
        raise ConfigTypeError(
            f"{shown}: model must be a dict with a 'type', got {describe_value(data['model'])}."
        )
    data["model"] = dict(data["model"])
    check_tree(data["model"], shown, "model")
    return config


# --------------------------------------------------------------------------- files and _base_
def _read_tree(file: Path, shown: str, chain: tuple[tuple[Path, str], ...]) -> dict[str, Any]:
    """The top-level values of ``file`` with its bases merged in; ``chain``: the files including it."""
    text = read_text(file, shown)
    found = _BASE_VARIABLE.search(text)
    if found:
        no_base_variables(shown, found.group())
    chain = (*chain, (file.resolve(), shown))
    if file.suffix.lower() == ".py":
        tree = parse_python(text, file, shown)
        bases = _bases(python_base_value(tree, text, shown), shown)
        base = _read_bases(file, bases, chain)
        data = run_python(tree, file, shown)
    else:
        data = read_json(text, shown) if file.suffix.lower() == ".json" else read_yaml(text, shown)
        base = _read_bases(file, _bases(data.pop(BASE_KEY, None), shown), chain)
    check_tree(data, shown)
    return merge(data, base, shown)


def _bases(value: Any, shown: str) -> list[str]:
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ConfigTypeError(
            f"{shown}: _base_ must be a path or a list of paths, got {describe_value(value)}."
        )
    return list(names)


def _read_bases(file: Path, names: list[str], chain: tuple[tuple[Path, str], ...]) -> dict[str, Any]:
    """The bases ``names`` of ``file``, read in order and combined (a key in two bases is an error)."""
    shown = chain[-1][1]
    combined: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for name in names:
        path = file.parent / name
        display = os.path.normpath(os.path.join(os.path.dirname(shown), name))
        trail = " -> ".join(s for _, s in chain)
        if "::" in name:
            raise ConfigValueError(
                f"{shown}: _base_ {name!r} names a config in an installed package, which torchinit does "
                "not look up; copy that file next to yours and name it by its path."
            )
        if path.resolve() in [p for p, _ in chain]:
            raise ConfigValueError(f"{shown}: _base_ inheritance cycle: {trail} -> {display}.")
        if len(chain) >= MAX_BASE_DEPTH:
            raise ConfigValueError(
                f"{shown}: _base_ chain longer than {MAX_BASE_DEPTH} files: {trail} -> ..."
            )
        if not path.exists():
            raise ConfigValueError(
                f"{shown}: _base_ {name!r} does not exist (looked at {path.absolute()}; a base is relative "
                f"to the folder of the file naming it). Chain: {trail} -> {display}."
            )
        data = _read_tree(path, display, chain)
        for key in data:
            if key in combined:
                raise ConfigKeyError(
                    f"{shown}: the bases {owner[key]} and {display} both define {key!r}; a key may come "
                    "from one base only (set it in this file instead)."
                )
            owner[key] = display
        combined.update(data)
    return combined


def _custom_imports(spec: Any, shown: str) -> list[str]:
    """``custom_imports = dict(imports=['pkg.models'], allow_failed_imports=False)``, as in mmengine."""
    if spec is None:
        return []
    where = f"{shown}: custom_imports"
    if not isinstance(spec, Mapping):
        raise ConfigTypeError(f"{where} must be dict(imports=[...]), got {describe_value(spec)}.")
    unknown = sorted(map(repr, set(spec) - {"imports", "allow_failed_imports"}))
    if unknown:
        raise ConfigKeyError(
            f"{where}: unknown key(s) {', '.join(unknown)}; it takes imports, allow_failed_imports."
        )
    names = spec.get("imports", [])
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ConfigTypeError(
            f"{where}.imports must be a module name or a list of them, got {describe_value(names)}."
        )
    allow = spec.get("allow_failed_imports", False)
    if not isinstance(allow, bool):
        raise ConfigTypeError(
            f"{where}.allow_failed_imports must be True or False, got {describe_value(allow)}."
        )
    return import_modules(list(names), where, allow_failed=allow)
