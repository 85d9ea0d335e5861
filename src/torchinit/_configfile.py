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

import ast
import contextlib
import importlib
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from ._config_errors import check_tree
from ._config_merge import apply_cfg_options, merge
from .errors import ConfigError, ConfigKeyError, ConfigTypeError, ConfigValueError
from .registry import describe_value

__all__ = ["ConfigFile", "finish_config", "import_modules", "load_config"]

logger = logging.getLogger("torchinit")

SUFFIXES = (".py", ".yaml", ".yml", ".json")
YAML_HINT = "YAML configs need PyYAML: pip install 'torchinit[cli]' (or pip install pyyaml)."
BASE_KEY = "_base_"
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


@contextlib.contextmanager
def _cwd_importable() -> Iterator[None]:
    """Put the current directory first on ``sys.path`` for the duration (as ``python -m`` does)."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def import_modules(names: Sequence[str], where: str, *, allow_failed: bool = False) -> list[str]:
    """Import ``names`` (the current directory is importable); return those imported.

    Raises:
        ConfigValueError: a module cannot be imported or raises while it is imported (named,
            with the reason); with ``allow_failed`` a module that is not found (ImportError,
            as in mmengine) is only logged as a warning.
    """
    done = []
    with _cwd_importable():
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
    text = _read_text(file, shown)
    found = _BASE_VARIABLE.search(text)
    if found:
        _no_base_variables(shown, found.group())
    chain = (*chain, (file.resolve(), shown))
    if file.suffix.lower() == ".py":
        tree = _parse_python(text, file, shown)
        bases = _bases(_python_base_value(tree, text, shown), shown)
        base = _read_bases(file, bases, chain)
        data = _run_python(tree, file, shown)
    else:
        data = _read_json(text, shown) if file.suffix.lower() == ".json" else _read_yaml(text, shown)
        base = _read_bases(file, _bases(data.pop(BASE_KEY, None), shown), chain)
    check_tree(data, shown)
    return merge(data, base, shown)


def _read_text(file: Path, shown: str) -> str:
    try:
        file.stat()
    except OSError as exc:
        what = "does not exist" if isinstance(exc, FileNotFoundError | NotADirectoryError) else exc.strerror
        raise ConfigValueError(f"{shown}: the config file {what} (looked at {file.absolute()}).") from None
    if not file.is_file():
        what = "is a directory" if file.is_dir() else "is not a regular file"
        raise ConfigValueError(f"{shown}: the config file {what} (looked at {file.absolute()}).")
    if file.suffix.lower() not in SUFFIXES:
        raise ConfigValueError(
            f"{shown}: unknown config format {file.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(SUFFIXES)}."
        )
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigValueError(f"{shown}: cannot read the config file: {exc.strerror or exc}.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigValueError(
            f"{shown}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); a config file is "
            "UTF-8 text: is this the right file?"
        ) from None


def _no_base_variables(shown: str, found: str) -> None:
    raise ConfigValueError(
        f"{shown}: uses a variable of its base config ({found}), which torchinit does not read "
        "(mmengine's _base_.x and {{_base_.x}}); write the value itself, or set only the keys you change "
        "(a dict merges into the base's)."
    )


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


# --------------------------------------------------------------------------- formats
def _parse_python(text: str, file: Path, shown: str) -> ast.Module:
    try:
        return ast.parse(text, str(file))
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        near = f": {line[:60]!r}" if line else ""
        raise ConfigValueError(f"{shown}, line {exc.lineno}: syntax error: {exc.msg}{near}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes; absurd nesting
        raise ConfigValueError(f"{shown}: not a Python config ({type(exc).__name__}: {exc}).") from None


def _python_base_value(tree: ast.Module, text: str, shown: str) -> Any:
    """The literal assigned to ``_base_`` (the first top-level assignment, as mmengine reads it)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(_calls(item.context_expr, "read_base") for item in node.items):
            raise ConfigValueError(
                f"{shown}: 'with read_base():' (mmengine's pure-Python config style) is not supported; "
                "write _base_ = ['base.py', ...] instead."
            )
        if isinstance(node, ast.Name) and node.id == BASE_KEY and isinstance(node.ctx, ast.Load):
            _no_base_variables(
                shown, f"line {node.lineno}: {text.splitlines()[node.lineno - 1].strip()[:60]}"
            )
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == BASE_KEY for t in node.targets
        ):
            try:
                return ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise ConfigValueError(
                    f"{shown}, line {node.lineno}: _base_ must be a literal path or list of paths, "
                    f"got {ast.unparse(node.value)[:60]!r}."
                ) from None
    return None


def _calls(node: ast.expr, name: str) -> bool:
    """Whether ``node`` is a call of ``name`` or of ``something.name``."""
    func = getattr(node, "func", None)
    return (isinstance(func, ast.Name) and func.id == name) or (
        isinstance(func, ast.Attribute) and func.attr == name
    )


def _run_python(tree: ast.Module, file: Path, shown: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__file__": str(file), "__name__": "torchinit_config"}
    with _cwd_importable():
        try:
            exec(compile(tree, str(file), "exec"), namespace)
        except ConfigError as exc:
            raise type(exc)(f"{shown}{_line_in(exc.__traceback__, file)}: {exc}") from exc
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # sys.exit() in a config is a broken config, not an exit status
            raise ConfigValueError(
                f"{shown}{_line_in(exc.__traceback__, file)}: running the config raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    return {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_") and not isinstance(v, ModuleType | type) and not callable(v)
    }


def _line_in(tb: TracebackType | None, file: Path) -> str:
    """``', line N'`` of the innermost frame that is in ``file``."""
    line = ""
    for frame in traceback.extract_tb(tb):
        if Path(frame.filename) == file:
            line = f", line {frame.lineno}"
    return line


def _read_json(text: str, shown: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigValueError(
            f"{shown}, line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}."
        ) from None
    except (ValueError, RecursionError) as exc:  # digits past Python's limit; nesting past the stack
        raise ConfigValueError(f"{shown}: invalid JSON: {type(exc).__name__}: {exc}.") from None
    return _top_level(data, shown)


def _read_yaml(text: str, shown: str) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        raise ConfigValueError(f"{shown}: {YAML_HINT}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigValueError(f"{shown}{where}: invalid YAML: {problem}.") from None
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. an unhashable key, digits past the limit
        raise ConfigValueError(f"{shown}: invalid YAML: {type(exc).__name__}: {exc}.") from None
    return _top_level(data, shown)


def _top_level(data: Any, shown: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigTypeError(
            f"{shown}: the file must hold a mapping with a 'model' key at the top, "
            f"got {describe_value(data)}."
        )
    return data


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
