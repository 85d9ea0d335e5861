"""mmengine's config semantics, written for torchinit: merging a config into its base, and ``--cfg-options``.

* :func:`merge`: how a file's values merge into its ``_base_`` (dicts key by key, everything
  else replaces, ``_delete_=True`` replaces a dict), as mmengine's ``Config._merge_a_into_b``.
* :func:`parse_option_value`: a ``--cfg-options`` value read as mmengine's ``DictAction``.
* :func:`apply_cfg_options`: ``(dotted key, value)`` pairs merged in as ``Config.merge_from_dict``.
"""

from __future__ import annotations

import ast
import contextlib
import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigKeyError, ConfigTypeError
from .registry import describe_value

__all__ = ["DELETE_KEY", "apply_cfg_options", "merge", "parse_option_value"]

DELETE_KEY = "_delete_"


# --------------------------------------------------------------------------- merging
def merge(child: dict[Any, Any], base: Mapping[Any, Any], shown: str, path: str = "") -> dict[Any, Any]:
    """``base`` with ``child`` merged in, as mmengine merges a config into its base.

    A dict in ``child`` merges into the dict of ``base`` under the same key, key by key; a dict
    holding ``_delete_=True`` replaces it instead; every other value (lists too) replaces.
    ``_delete_`` keys never remain in the result. Neither argument is modified. ``shown`` and
    ``path`` (the key path of ``child``) only name the place in errors.

    Raises:
        ConfigTypeError: a dict would merge into a value that is not a dict (the fix:
            ``_delete_=True``), or ``_delete_`` is not True or False.
    """
    _delete(child, shown, path)
    merged = dict(base)
    for key, value in child.items():
        at = f"{path}.{key}" if path else str(key)
        if key == DELETE_KEY:
            continue
        if isinstance(value, dict) and key in merged and not _delete(value, shown, at):
            if not isinstance(merged[key], dict):
                raise ConfigTypeError(
                    f"{shown}: {at}: a dict cannot merge into the base's {describe_value(merged[key])}; "
                    f"add {DELETE_KEY}=True to the dict to replace the base's value."
                )
            merged[key] = merge(value, merged[key], shown, at)
        else:
            merged[key] = _without_delete(value, shown, at)
    return merged


def _delete(value: dict[Any, Any], shown: str, path: str) -> bool:
    flag = value.get(DELETE_KEY, False)
    if not isinstance(flag, bool):
        raise ConfigTypeError(
            f"{shown}: {path or 'the config'}.{DELETE_KEY} must be True or False, got {describe_value(flag)}."
        )
    return flag


def _without_delete(value: Any, shown: str, path: str) -> Any:
    """``value`` with every ``_delete_`` key removed (each checked to be a bool)."""
    if isinstance(value, dict):
        return merge(value, {}, shown, path)
    if type(value) in (list, tuple):
        return type(value)(_without_delete(v, shown, f"{path}.{i}") for i, v in enumerate(value))
    return value


# --------------------------------------------------------------------------- --cfg-options values
_CLOSE = {"(": ")", "[": "]", "{": "}"}
MAX_OPTION_DEPTH = 32


def parse_option_value(text: str) -> Any:
    """Read a ``--cfg-options`` value as mmengine's ``DictAction`` does.

    Quotes around it are dropped and spaces removed; ``[a,b]`` is a list, ``(a,b)`` a tuple
    (nested brackets too: ``[(1,2),(3,4)]``), ``a,b`` a list; each item is an int, a float,
    ``true``/``false`` (any case), ``None``, or else a string. Beyond mmengine: ``{...}`` is a
    Python dict literal (mmengine keeps it as a string), and unbalanced brackets are an error
    (mmengine fails an assert or recurses forever).

    Raises:
        ValueError: unbalanced brackets, nesting past 32, or a ``{...}`` that is not a dict literal.

    Example:
        >>> parse_option_value("[(1,2),[a, b],c]"), parse_option_value("0.5,None,TRUE")
        ([(1, 2), ['a', 'b'], 'c'], [0.5, None, True])
    """
    text, commas, first_close = _scan(text.strip("'\""))
    if text[:1] in _CLOSE and first_close == len(text) - 1:
        if text[0] == "{":
            return _dict_literal(text)
        items = _items(text[1:-1])
        return tuple(items) if text[0] == "(" else items
    if commas:
        return _items(text)
    for kind in (int, float):
        with contextlib.suppress(ValueError):
            return kind(text)
    return {"true": True, "false": False}.get(text.lower(), None if text == "None" else text)


def _items(text: str) -> list[Any]:
    """The comma-separated items of ``text`` (one trailing comma allowed, as in mmengine)."""
    if not text:
        return []
    _, commas, _ = _scan(text)
    bounds = [-1, *commas, len(text)]
    pieces = [text[a + 1 : b] for a, b in zip(bounds, bounds[1:], strict=False)]
    if len(pieces) > 1 and pieces[-1] == "":
        pieces.pop()
    return [parse_option_value(p) for p in pieces]


def _scan(text: str) -> tuple[str, list[int], int | None]:
    """``text`` without spaces outside ``{...}``, its top-level commas, and where its first bracket closes.

    Positions are in the returned text. Inside ``{...}`` spaces are kept, and so are
    brackets within quotes.
    """
    kept: list[str] = []
    commas: list[int] = []
    stack: list[str] = []
    first_close = quote = None
    for ch in text:
        if quote:
            quote = None if ch == quote and kept[-1] != "\\" else quote
        elif ch in "'\"" and "{" in stack:
            quote = ch
        elif ch == " " and "{" not in stack:
            continue
        elif ch in _CLOSE:
            stack.append(ch)
            if len(stack) > MAX_OPTION_DEPTH:
                raise ValueError(f"brackets nested more than {MAX_OPTION_DEPTH} deep")
        elif ch in ")]}":
            if not stack or _CLOSE[stack.pop()] != ch:
                raise ValueError(f"unbalanced brackets in {text!r}")
            if not stack and first_close is None:
                first_close = len(kept)
        elif ch == "," and not stack:
            commas.append(len(kept))
        kept.append(ch)
    if stack or quote:
        raise ValueError(f"unbalanced brackets or quotes in {text!r}")
    return "".join(kept), commas, first_close


def _dict_literal(text: str) -> dict[Any, Any]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"{text!r} is not a dict literal such as {{'type': 'Xavier', 'gain': 2}}")
    return value


# --------------------------------------------------------------------------- --cfg-options keys
def apply_cfg_options(data: dict[str, Any], options: Sequence[tuple[str, Any]], shown: str) -> None:
    """Merge each ``(dotted key, value)`` of ``options`` into ``data``, as mmengine's ``merge_from_dict``.

    Missing dict keys are created; a number steps into a list; a dict value merges into the
    dict it lands on (see :func:`merge`), anything else replaces. Dicts and lists on the way
    are copied first, so a value shared by two places of the config changes only where named.

    Raises:
        ConfigKeyError: a step goes through a value that is neither a dict nor a list, or a
            list index is not a number in range.
    """
    for dotted, value in options:
        node: Any = data
        parts = dotted.split(".")
        for depth, part in enumerate(parts):
            at = ".".join(parts[:depth]) or "the config"
            key: Any = part
            if isinstance(node, list):
                if not (part.isdigit() and int(part) < len(node)):
                    raise ConfigKeyError(
                        f"{shown}: --cfg-options {dotted}: {at} is a list of {len(node)}; the next part "
                        f"must be an index from 0 to {len(node) - 1}, got {part!r}."
                    )
                key = int(part)
            elif not isinstance(node, dict):
                raise ConfigKeyError(
                    f"{shown}: --cfg-options {dotted}: {at} is {describe_value(node)}, not a dict or a list, "
                    f"so it has no {part!r}."
                )
            if depth == len(parts) - 1:
                old = node[key] if isinstance(node, list) else node.get(key)
                where = f"--cfg-options {dotted}"
                if isinstance(value, dict) and isinstance(old, dict) and not _delete(value, shown, where):
                    node[key] = merge(value, old, shown, where)
                else:
                    node[key] = _without_delete(value, shown, where)
            else:
                nxt = node[key] if isinstance(node, list) else node.get(key, {})
                node[key] = nxt = copy.copy(nxt) if isinstance(nxt, dict | list) else nxt
                node = nxt
