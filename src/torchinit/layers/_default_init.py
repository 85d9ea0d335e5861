"""A brick's default init at construction, as mmcv's bricks do it, without the engine.

mmcv's ``ConvModule`` and ``PixelShufflePack`` call their ``init_weights()`` at the end of
``__init__``, so a model that never calls ``init_weights`` still starts from Kaiming / 1-0
(ConvModule) or Xavier uniform (PixelShufflePack). torchinit's bricks do the same from the
rules their ``default_init_cfg()`` returns, the one definition of that default: each rule
of the form ``dict(type=<one of mmengine's module functions>, override=dict(name=...),
**its arguments)`` is filled directly with that function on the named submodule (one
weight, one bias: no planning, no report). Later, ``init_weights()`` treats the same rules
as the lowest-priority ones.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from .. import functional as F

__all__ = ["apply_default_init"]

_MODULE_FILLS: Mapping[str, Callable[..., None]] = {
    "Constant": F.constant_init,
    "Xavier": F.xavier_init,
    "Normal": F.normal_init,
    "TruncNormal": F.trunc_normal_init,
    "Uniform": F.uniform_init,
    "Kaiming": F.kaiming_init,
    "Caffe2Xavier": F.caffe2_xavier_init,
}


@functools.cache
def _arguments(kind: str) -> frozenset[str]:
    """The keyword arguments the module function for ``kind`` takes after the module."""
    names = list(inspect.signature(_MODULE_FILLS[kind]).parameters)[1:]
    return frozenset(names) - {"generator"}


def _direct_fill(rule: Any) -> tuple[Callable[..., None], str, dict[str, Any]] | None:
    """``(module function, submodule name, its arguments)`` for a rule filled directly, else None."""
    if not isinstance(rule, Mapping):
        return None
    args = dict(rule)
    kind, override = args.pop("type", None), args.pop("override", None)
    if kind not in _MODULE_FILLS or not isinstance(override, Mapping) or set(override) != {"name"}:
        return None
    if not set(args) <= _arguments(kind):
        return None
    return _MODULE_FILLS[kind], override["name"], args


def apply_default_init(module: nn.Module, rules: Any) -> None:
    """Fill what ``rules`` (the module's ``default_init_cfg()``) cover, as mmcv's bricks do.

    Does nothing when any parameter of ``module`` is on the meta device: nothing is drawn
    there, and :func:`torchinit.materialize` fills the tensors once they exist. A rule of
    another shape (a ``layer`` rule, ``bias_prob``, a type without a module function), or
    one naming a submodule that does not exist yet, is left to ``init_weights()``.
    """
    if any(p.is_meta for p in module.parameters()):
        return
    for rule in rules if isinstance(rules, (list, tuple)) else [rules]:
        direct = _direct_fill(rule)
        if direct is None:
            continue
        fill, name, args = direct
        try:
            target = module.get_submodule(name)
        except AttributeError:
            continue
        fill(target, **args)
