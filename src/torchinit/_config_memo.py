"""Configs of equal content parsed once per plan (the same default on every ConvModule).

The planner (:mod:`torchinit._planner`) parses every ``init_cfg`` and default of a tree
through :func:`parse_init_cfg_once`: a config whose plain content it has met before in the
plan reuses that parse, moved to its own place (``where``).
"""

from __future__ import annotations

from typing import Any

from ._config_data import MAX_DEPTH, plain_config
from ._init_base import OWN_MODULES
from .config import RuleSpec, _item_where, _override_where, parse_init_cfg

__all__ = ["Memo", "parse_init_cfg_once"]

Memo = dict[Any, tuple[RuleSpec, ...]]
"""Configs parsed in one plan, by content (see :func:`parse_init_cfg_once`)."""


def parse_init_cfg_once(init_cfg: Any, where: str, memo: Memo) -> tuple[RuleSpec, ...]:
    """:func:`parse_init_cfg`, reusing the specs of a config of equal content parsed before
    into ``memo`` (the same default rules on every ConvModule of a model): their initializers
    are shared, only ``where`` is this config's. ``memo`` lives for one plan, so a config
    changed between two runs is parsed again. Configs holding anything but plain data
    (classes, functions, objects) or initializers not of torchinit are parsed every time."""
    if init_cfg is None:
        return ()
    key = _content(init_cfg)  # plain data as given: one seen before is not read again
    plain = None
    if key is None:  # read into plain data first (an mmengine ConfigDict), it may have one
        plain = plain_config(init_cfg, where)
        key = _content(plain)
    found = memo.get(key) if key is not None else None
    if found is None:
        specs = parse_init_cfg(plain_config(init_cfg, where) if plain is None else plain, where)
        if key is not None and all(_shareable(spec) for spec in specs):
            memo[key] = specs
        return specs
    return tuple(_moved(spec, _item_where(where, i, len(found))) for i, spec in enumerate(found))


def _content(value: Any, depth: int = 0) -> Any:
    """A hashable key equal for configs of equal plain content, types included; None if the
    config holds anything else (a mapping of another type, a key that is not a string, an
    object), or nests deeper than :data:`MAX_DEPTH` (or contains itself)."""
    kind = type(value)
    if kind is dict or kind is list or kind is tuple:
        if depth >= MAX_DEPTH:
            return None
        parts: list[Any] = []
        for k, v in value.items() if kind is dict else enumerate(value):
            part = _content(v, depth + 1)
            if part is None or (kind is dict and type(k) is not str):
                return None
            parts.append((k, part) if kind is dict else part)
        return (kind, tuple(parts))
    if kind is float:
        return (float, repr(value))  # -0.0 is not 0.0
    if kind in (int, bool, str, type(None)):
        return (kind, value)
    return None


def _shareable(spec: RuleSpec) -> bool:
    """Are the initializers of ``spec`` torchinit's own frozen configs (safe to share)?"""
    for rule in (spec, *(ov.rule for ov in spec.overrides)):
        cls = type(rule.init)
        params = getattr(cls, "__dataclass_params__", None)
        if cls.__module__ not in OWN_MODULES or params is None or not params.frozen or rule.is_pretrained:
            return False
    return True


def _moved(spec: RuleSpec, where: str) -> RuleSpec:
    """``spec`` as parsed at ``where``."""
    count = len(spec.overrides)
    overrides = tuple(
        _with(ov, rule=_with(ov.rule, where=_override_where(where, i, count)))
        for i, ov in enumerate(spec.overrides)
    )
    return _with(spec, where=where, overrides=overrides)


def _with(spec: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` for the specs (frozen, no ``__post_init__``, fields only in
    ``__dict__``), without re-running ``__init__``: a fifth of its cost, and a plan moves a
    spec for every ConvModule that shares its default."""
    new = object.__new__(type(spec))
    new.__dict__.update(spec.__dict__)
    for name, value in changes.items():
        object.__setattr__(new, name, value)
    return new
