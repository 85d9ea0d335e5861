"""One config file's text as top-level values: Python (run), JSON or YAML (PyYAML, optional).

:mod:`torchinit._configfile` reads a file and its ``_base_`` chain through these; each
reader raises a :class:`~torchinit.ConfigValueError` or :class:`~torchinit.ConfigTypeError`
that starts with the file (and the line, where there is one).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from .errors import ConfigError, ConfigTypeError, ConfigValueError
from .registry import describe_value

__all__ = [
    "BASE_KEY",
    "SUFFIXES",
    "cwd_importable",
    "no_base_variables",
    "parse_python",
    "python_base_value",
    "read_json",
    "read_text",
    "read_yaml",
    "run_python",
]

SUFFIXES = (".py", ".yaml", ".yml", ".json")
YAML_HINT = "YAML configs need PyYAML: pip install 'torchinit[cli]' (or pip install pyyaml)."
BASE_KEY = "_base_"


@contextlib.contextmanager
def cwd_importable() -> Iterator[None]:
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


def read_text(file: Path, shown: str) -> str:
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


def no_base_variables(shown: str, found: str) -> None:
    raise ConfigValueError(
        f"{shown}: uses a variable of its base config ({found}), which torchinit does not read "
        "(mmengine's _base_.x and {{_base_.x}}); write the value itself, or set only the keys you change "
        "(a dict merges into the base's)."
    )


def parse_python(text: str, file: Path, shown: str) -> ast.Module:
    try:
        return ast.parse(text, str(file))
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        near = f": {line[:60]!r}" if line else ""
        raise ConfigValueError(f"{shown}, line {exc.lineno}: syntax error: {exc.msg}{near}") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes; absurd nesting
        raise ConfigValueError(f"{shown}: not a Python config ({type(exc).__name__}: {exc}).") from None


def python_base_value(tree: ast.Module, text: str, shown: str) -> Any:
    """The literal assigned to ``_base_`` (the first top-level assignment, as mmengine reads it)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any(_calls(item.context_expr, "read_base") for item in node.items):
            raise ConfigValueError(
                f"{shown}: 'with read_base():' (mmengine's pure-Python config style) is not supported; "
                "write _base_ = ['base.py', ...] instead."
            )
        if isinstance(node, ast.Name) and node.id == BASE_KEY and isinstance(node.ctx, ast.Load):
            no_base_variables(shown, f"line {node.lineno}: {text.splitlines()[node.lineno - 1].strip()[:60]}")
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


def run_python(tree: ast.Module, file: Path, shown: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__file__": str(file), "__name__": "torchinit_config"}
    with cwd_importable():
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


def read_json(text: str, shown: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigValueError(
            f"{shown}, line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}."
        ) from None
    except (ValueError, RecursionError) as exc:  # digits past Python's limit; nesting past the stack
        raise ConfigValueError(f"{shown}: invalid JSON: {type(exc).__name__}: {exc}.") from None
    return _top_level(data, shown)


def read_yaml(text: str, shown: str) -> dict[str, Any]:
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
