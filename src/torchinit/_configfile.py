"""Config files for the ``torchinit`` command: Python, YAML or JSON, with dotted overrides.

A config file defines the model the OpenMMLab way::

    # my_config.py
    custom_imports = dict(imports=['mypkg.models'])     # modules that register the classes
    model = dict(type='MyNet', depth=18, init_cfg=dict(type='Kaiming', layer='Conv2d'))

A Python config may also define and register its classes itself. YAML and JSON files hold
the same keys. ``--cfg-options model.depth=34`` overrides one value by its dotted key path
(list items by index: ``model.init_cfg.0.type=Xavier``). Every mistake is raised as a
:class:`~torchinit.ConfigError` whose message starts with the file and the key path.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from .errors import ConfigError, ConfigKeyError, ConfigTypeError, ConfigValueError
from .registry import describe_value

__all__ = [
    "ConfigFile",
    "apply_cfg_options",
    "import_modules",
    "load_config",
    "parse_cfg_options",
]

logger = logging.getLogger("torchinit")

SUFFIXES = (".py", ".yaml", ".yml", ".json")
YAML_HINT = "YAML configs need PyYAML: pip install 'torchinit[cli]' (or pip install pyyaml)."


@dataclass
class ConfigFile:
    """A config file as read: its top-level values and the modules imported for it.

    Attributes:
        path: the file ('' for a config given as a dict).
        data: the top-level names and their values (``model``, ``custom_imports``, ...).
        imported: modules imported for it (``custom_imports`` and ``--import``), in order.
    """

    path: str
    data: dict[str, Any]
    imported: list[str] = field(default_factory=list)

    @property
    def model(self) -> dict[str, Any]:
        """The ``model`` dict (checked to exist and to be a dict by :func:`load_config`)."""
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
        ConfigValueError: a module cannot be imported (named, with the reason), unless
            ``allow_failed``, which logs a warning instead.
    """
    done = []
    with _cwd_importable():
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                message = (
                    f"{where}: cannot import {name!r}: {exc}. The current directory ({os.getcwd()}) and "
                    "sys.path are searched; install the package or run from the directory that holds it."
                )
                if not allow_failed:
                    raise ConfigValueError(message) from None
                logger.warning("%s", message)
                continue
            done.append(name)
    return done


def load_config(
    path: str | os.PathLike[str],
    *,
    cfg_options: Sequence[str] = (),
    imports: Sequence[str] = (),
) -> ConfigFile:
    """Read a config file, import what it needs, and apply ``cfg_options`` (``KEY=VALUE``).

    Order: the ``imports`` (``--import``) first, so that a Python config can use them; then
    the file; then its ``custom_imports``; then the overrides.

    Raises:
        ConfigError: a missing or unreadable file, a syntax error (with line), an exception
            while running a Python config, a bad ``custom_imports``, no ``model`` dict, or a
            bad override; the message starts with the file.
    """
    file = Path(path)
    shown = os.fspath(path)
    imported = import_modules(imports, "--import")
    if not file.is_file():
        what = "is a directory" if file.is_dir() else "does not exist"
        raise ConfigValueError(f"{shown}: the config file {what} (looked at {file.absolute()}).")
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise ConfigValueError(
            f"{shown}: unknown config format {file.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(SUFFIXES)}."
        )
    if suffix == ".py":
        data = _read_python(file, shown)
    else:
        text = file.read_text(encoding="utf-8")
        data = _read_json(text, shown) if suffix == ".json" else _read_yaml(text, shown)
    if "_base_" in data:
        raise ConfigValueError(
            f"{shown}: _base_ inheritance is not supported; write the model dict in one file "
            "(or use --cfg-options to change values)."
        )
    imported += _custom_imports(data.get("custom_imports"), shown)
    apply_cfg_options(data, parse_cfg_options(cfg_options), shown)
    if "model" not in data:
        names = ", ".join(sorted(data)) or "nothing"
        raise ConfigKeyError(
            f"{shown}: the config defines no 'model' (it defines: {names}). Add model = dict(type=..., ...)."
        )
    if not isinstance(data["model"], Mapping):
        raise ConfigTypeError(
            f"{shown}: model must be a dict with a 'type', got {describe_value(data['model'])}."
        )
    data["model"] = dict(data["model"])
    return ConfigFile(shown, data, imported)


# --------------------------------------------------------------------------- formats
def _read_python(file: Path, shown: str) -> dict[str, Any]:
    source = file.read_text(encoding="utf-8")
    try:
        code = compile(source, str(file), "exec")
    except SyntaxError as exc:
        line = (exc.text or "").rstrip("\n")
        pointer = f"\n    {line}\n    {' ' * max((exc.offset or 1) - 1, 0)}^" if line else ""
        raise ConfigValueError(f"{shown}, line {exc.lineno}: syntax error: {exc.msg}{pointer}") from None
    namespace: dict[str, Any] = {"__file__": str(file), "__name__": "torchinit_config"}
    with _cwd_importable():
        try:
            exec(code, namespace)
        except ConfigError as exc:
            raise type(exc)(f"{shown}{_line_in(exc.__traceback__, file)}: {exc}") from None
        except Exception as exc:
            raise ConfigValueError(
                f"{shown}{_line_in(exc.__traceback__, file)}: running the config raised "
                f"{type(exc).__name__}: {exc}"
            ) from None
    return {
        k: v
        for k, v in namespace.items()
        if not k.startswith("_") and not isinstance(v, (ModuleType, type)) and not callable(v)
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
    unknown = sorted(set(spec) - {"imports", "allow_failed_imports"})
    if unknown:
        raise ConfigKeyError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; it takes imports, "
            "allow_failed_imports."
        )
    names = spec.get("imports", [])
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigTypeError(
            f"{where}.imports must be a module name or a list of them, got {describe_value(names)}."
        )
    allow = spec.get("allow_failed_imports", False)
    if not isinstance(allow, bool):
        raise ConfigTypeError(
            f"{where}.allow_failed_imports must be True or False, got {describe_value(allow)}."
        )
    return import_modules(list(names), where, allow_failed=allow)


# --------------------------------------------------------------------------- --cfg-options
def parse_cfg_options(items: Sequence[str]) -> list[tuple[str, Any]]:
    """``['model.depth=34', ...]`` -> ``[('model.depth', 34), ...]``.

    Values are read as Python literals (``34``, ``0.5``, ``None``, ``[1, 2]``, ``'x'``),
    ``true``/``false``/``null`` as in YAML, ``a,b`` as a list; anything else is a string.

    Raises:
        ConfigValueError: an item has no ``=`` or an empty key.
    """
    parsed = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigValueError(
                f"--cfg-options: {item!r} must be KEY=VALUE with a dotted key, e.g. model.backbone.depth=50."
            )
        parsed.append((key, _parse_value(value.strip())))
    return parsed


_WORDS = {"true": True, "false": False, "null": None, "none": None}


def _parse_value(text: str) -> Any:
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    if "," in text and not text.startswith(("[", "(", "{")):
        return [_parse_value(part.strip()) for part in text.split(",")]
    return text


def apply_cfg_options(data: dict[str, Any], options: Sequence[tuple[str, Any]], shown: str) -> None:
    """Set each dotted key of ``options`` in ``data``; missing dict keys are created.

    Raises:
        ConfigKeyError: a step goes through a value that is neither a dict nor a list, or a
            list index is not a number in range.
    """
    for dotted, value in options:
        node: Any = data
        parts = dotted.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            at = ".".join(parts[:depth]) or "the config"
            if isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            elif isinstance(node, list):
                if not (part.isdigit() and int(part) < len(node)):
                    raise ConfigKeyError(
                        f"{shown}: --cfg-options {dotted}: {at} is a list of {len(node)}; "
                        "the next part must be "
                        f"an index from 0 to {len(node) - 1}, got {part!r}."
                    )
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            else:
                raise ConfigKeyError(
                    f"{shown}: --cfg-options {dotted}: {at} is {describe_value(node)}, not a dict or a list, "
                    f"so it has no {part!r}."
                )
