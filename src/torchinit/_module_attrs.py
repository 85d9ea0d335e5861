"""What a module instance holds itself: an attribute, or a parameter, buffer or child.

The planner asks every module for its ``init_weights`` and ``is_init``; a plain layer has
neither, and ``getattr`` would pay for ``nn.Module.__getattr__`` raising AttributeError. These
read the instance's own tables instead, for any class that looks attributes up as
``nn.Module`` does and does not define the name.
"""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["bare_instance", "instance_attr", "stock_lookup"]

_MISSING = object()
_MODULE_GETATTR = nn.Module.__getattr__
_OBJECT_GETATTRIBUTE = object.__getattribute__


def instance_attr(module: nn.Module, name: str, default: Any) -> Any:
    """``getattr(module, name, default)``, without the cost of ``nn.Module.__getattr__``
    raising AttributeError when ``name`` is nowhere (a plain layer has no ``is_init`` nor
    ``init_weights``, and the planner asks every module). Falls back to ``getattr`` for any
    class that defines ``name`` or customizes attribute look-up."""
    if stock_lookup(type(module), name):
        found = module.__dict__
        if name in found:
            return found[name]
        params, buffers, modules = found.get("_parameters"), found.get("_buffers"), found.get("_modules")
        if (
            params is not None
            and buffers is not None
            and modules is not None
            and name not in params
            and name not in buffers
            and name not in modules
        ):
            return default
    return getattr(module, name, default)


def stock_lookup(cls: type, name: str) -> bool:
    """Does ``cls`` look attributes up as ``nn.Module`` does, and define no ``name``? Then
    an instance's ``name`` is only what the instance holds: an attribute of its own, or a
    parameter, buffer or child so named."""
    return (
        cls.__getattr__ is _MODULE_GETATTR  # type: ignore[attr-defined]  # an nn.Module class
        and cls.__getattribute__ is _OBJECT_GETATTRIBUTE
        and getattr(cls, name, _MISSING) is _MISSING
    )


def bare_instance(module: nn.Module) -> bool:
    """Has ``module`` neither an ``init_weights`` nor an ``is_init`` of its own (an instance
    attribute, or a parameter, buffer or child of that name: where :func:`instance_attr`
    looks)? With :func:`torchinit.module.plain_class` of its class, it has no init code and no
    init flag."""
    found = module.__dict__
    if "init_weights" in found or "is_init" in found:
        return False
    for table in (found.get("_parameters"), found.get("_buffers"), found.get("_modules")):
        if table is None or "init_weights" in table or "is_init" in table:
            return False
    return True
