"""Layers whose ``init_weights`` only applies a default, declared as rules.

:func:`register_default_init` records, by qualified class name, the rules a layer's
``init_weights`` amounts to (mmcv's ConvModule: Kaiming on its conv, 1/0 on its norm); the
planner then plans them as a default, the lowest priority of all (see
:func:`torchinit.module.default_rules_of`). mmcv's own layers are registered by name from
:mod:`torchinit.openmmlab.defaults` on the first look-up, so nothing of mmcv is imported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from .errors import ConfigValueError

if TYPE_CHECKING:  # module.py imports this module
    from .module import InitCfg

__all__ = ["DefaultRules", "register_default_init", "registered_default"]

DefaultRules = Callable[[nn.Module], "InitCfg | None"]
_DEFAULT_INITS: dict[str, DefaultRules] = {}
_BUILTIN_DEFAULTS: list[dict[str, DefaultRules]] = []  # filled once: torchinit.openmmlab.defaults's table


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_default_init(target: type | str, rules: DefaultRules) -> None:
    """Declare that ``target``'s ``init_weights`` only applies a default, given as rules.

    ``rules(module)`` returns the init_cfg rules that ``init_weights`` amounts to (e.g.
    ``[dict(type='Kaiming', override=dict(name='conv'))]``). The engine then plans them as a
    default: the lowest priority, so a user's rule that covers a tensor beats it (in
    ``compat='mmengine'`` mode they apply where mmengine would call the method). ``target``
    is a class or its qualified name (``'mmcv.cnn.bricks.conv_module.ConvModule'``), which
    works without importing the library. mmcv's ConvModule and PixelShufflePack are
    registered by torchinit.

    Example:
        >>> class Stem(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.conv = nn.Conv2d(3, 8, 3)
        ...     def init_weights(self):
        ...         kaiming_init(self.conv)
        >>> register_default_init(Stem, lambda m: dict(type='Kaiming', override=dict(name='conv')))
    """
    if not callable(rules):
        raise ConfigValueError(f"register_default_init: rules must be callable(module), got {rules!r}.")
    if isinstance(target, type):
        target = _qualname(target)
    if not isinstance(target, str) or not target:
        raise ConfigValueError(
            f"register_default_init: target must be a class or its qualified name, got {target!r}."
        )
    _DEFAULT_INITS[target] = rules
    registered_default.cache_clear()


@functools.lru_cache(maxsize=1024)
def registered_default(cls: type) -> DefaultRules | None:
    """The rules registered for ``cls`` (or a base whose ``init_weights`` it keeps), or None."""
    if not _BUILTIN_DEFAULTS:  # mmcv's layers, by name, on the first look-up (a user's own entry wins)
        from .openmmlab.defaults import MMCV_DEFAULTS

        _BUILTIN_DEFAULTS.append(MMCV_DEFAULTS)
        for name, rules in MMCV_DEFAULTS.items():
            _DEFAULT_INITS.setdefault(name, rules)
    for klass in cls.__mro__:
        found = _DEFAULT_INITS.get(_qualname(klass))
        if found is not None:  # only while the method is that class's own, not a subclass's code
            return (
                found if getattr(cls, "init_weights", None) is getattr(klass, "init_weights", None) else None
            )
    return None
