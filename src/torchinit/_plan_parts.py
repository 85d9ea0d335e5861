"""The planner's pieces of a rule, its check memo and its messages for rules that match nothing.

:mod:`torchinit._planner` walks the tree; what it keeps on its stacks while inside a rule's
owner is a :class:`Part`, what it undoes when leaving a module is a :class:`Frame`. The
check an initializer makes of a tensor runs once per kind of tensor in a plan
(:class:`Checks`), and a rule that fills nothing is reported with a fix
(:func:`unmatched_text`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from torch import Tensor, nn

from ._init_base import OWN_MODULES
from ._plan_items import Ref, label, preorder
from .config import RuleSpec
from .registry import close_matches
from .selectors import suggest_layer_names

__all__ = ["ANY_MODULE", "Checks", "Frame", "Part", "unmatched_text"]

ANY_MODULE = "*"  # stack key of ``param`` rules without ``layer``: they reach every module


@dataclass(eq=False)
class Part:
    """One write-producing piece of a rule: its layer fill, or one override.

    On a per-class stack, ``best`` is the part of highest ``seq`` at or below this one, so
    the winner for a module is read off the top in constant time, however deep the nesting.
    """

    seq: int
    rule: RuleSpec
    ref: Ref
    bias_init: Any
    matched: bool = False
    best: Part | None = None
    refs: dict[str, Ref] = field(default_factory=dict)  # by role: one Ref for all it fills

    def covers(self, name: str, is_buffer: bool = False) -> bool:
        """Does this part fill the tensor with local name ``name`` of a module it reaches?"""
        patterns = self.rule.buffers if is_buffer else self.rule.params
        if patterns is None:
            return not is_buffer and not self.rule.selects and name in ("weight", "bias")
        return any(fnmatchcase(name, pattern) for pattern in patterns)


@dataclass
class Frame:
    """Exit marker of the iterative walk: what to undo when leaving a module."""

    module: nn.Module
    pushed: list[tuple[Any, Part]] = field(default_factory=list)
    overrides: list[Part] = field(default_factory=list)
    owner_rules: tuple[RuleSpec, ...] | None = None
    skips: int = 0  # SkipInitWeights layer names this module's rules pushed


class Checks:
    """``init.check_tensor(tensor, where())``, once per plan for each initializer of torchinit
    and kind of tensor (type, shape, dtype, layout: all its checks read); every time for an
    initializer whose checks run code of its own."""

    def __init__(self) -> None:
        self._passed: dict[tuple[Any, ...], Any] = {}

    def check(self, init: Any, tensor: Tensor, where: Callable[[], str]) -> None:
        check = getattr(init, "check_tensor", None)
        if check is None:
            return
        if not _pure_check(type(init)):  # type: ignore[arg-type]  # mypy checks a class's own __hash__ for the type object
            check(tensor, where())
            return
        key = (
            id(init),
            type(tensor),
            tensor.shape,
            tensor.dtype,
            tensor.layout,
            tensor.is_quantized,
            tensor.is_nested,
        )
        if self._passed.get(key) is not init:
            check(tensor, where())
            self._passed[key] = init  # holds it: its id is not reused during the plan


@functools.lru_cache(maxsize=1024)
def _pure_check(cls: type) -> bool:
    """Does ``cls`` check tensors with torchinit's own code only (reading only the tensor's
    type, shape, dtype and layout, and its own fields)?"""
    return all(
        getattr(getattr(cls, name, None), "__module__", None) in OWN_MODULES
        for name in ("check_tensor", "check_values")
    )


def unmatched_text(scope: nn.Module, scope_name: str, entry: Part, key: Any, compat: bool) -> str:
    """The warning for ``entry`` (pushed under ``key`` by the rules of ``scope``) that matched
    nothing: what it asked for, where, and the names it probably meant."""
    rule = entry.rule
    if rule.selects:
        where = "" if key == ANY_MODULE else f" in a {key if isinstance(key, str) else key.__name__} module"
        chosen = [f"param={list(rule.params)!r}"] if rule.params is not None else []
        chosen += [f"buffer={list(rule.buffers)!r}"] if rule.buffers is not None else []
        what = "tensor" if len(chosen) == 2 else "parameter" if rule.params is not None else "buffer"
        return (
            f"{rule.where}: {' '.join(chosen)} of {rule.describe()} matches no {what}{where} under "
            f"{label(scope_name, scope)}.{_name_hint(scope, rule)}"
        )
    shown = key if isinstance(key, str) else key.__name__
    if compat and isinstance(key, type):
        hint = (
            " In compat='mmengine' mode a class object in layer matches nothing (mmengine compares class "
            f"names): write layer={key.__name__!r}."
        )
    else:
        hints = suggest_layer_names(shown, (m for _, m in preorder(scope)))
        hint = f" Did you mean {' or '.join(repr(h) for h in hints)}?" if hints else ""
    return f"{rule.where}: layer={shown!r} of {rule.describe()} matches no module under {label(scope_name, scope)}.{hint}"


def _name_hint(scope: nn.Module, rule: RuleSpec) -> str:
    """`` Did you mean 'weight'?`` for a ``param``/``buffer`` name that looks like a real one."""
    params = {n.rpartition(".")[2] for n, _ in scope.named_parameters()}
    buffers = {n.rpartition(".")[2] for n, _ in scope.named_buffers()}
    hints = [h for p in rule.params or () for h in close_matches(p, params)]
    hints += [h for b in rule.buffers or () for h in close_matches(b, buffers)]
    return f" Did you mean {' or '.join(repr(h) for h in dict.fromkeys(hints))}?" if hints else ""
