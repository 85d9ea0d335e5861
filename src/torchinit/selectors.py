"""Which modules a rule reaches: ``layer`` by class, ``override`` by qualified name.

``layer`` matching goes through the whole class hierarchy (the MRO): a subclass of a
subclass of ``Conv2d`` is a ``Conv2d``. mmengine compares the class's own name and its
*direct* bases' names only; ``compat='mmengine'`` does the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from torch import nn

from .config import LayerSpec
from .errors import OverrideNameError
from .registry import close_matches

__all__ = ["is_known_layer", "layer_keys", "resolve_override", "suggest_layer_names"]


def layer_keys(cls: type, compat: bool = False) -> tuple[LayerSpec, ...]:
    """What a ``layer`` entry may say to match modules of class ``cls``: the names (and the
    classes themselves) of its whole MRO; in mmengine mode only its own and its direct
    bases' names (mmengine compares names, so a class object in ``layer`` matches nothing)."""
    if compat:
        return (cls.__name__, *(base.__name__ for base in cls.__bases__))
    return (*{c.__name__ for c in cls.__mro__}, *cls.__mro__)


def _all_module_classes() -> Iterable[type]:
    stack: list[type] = [nn.Module]
    seen: set[type] = set()
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.add(cls)
            yield cls
            stack.extend(cls.__subclasses__())


def is_known_layer(layer: LayerSpec) -> bool:
    """True if ``layer`` is a class, or the name of an nn.Module class defined in this process."""
    if isinstance(layer, type):
        return True
    return any(c.__name__ == layer for c in _all_module_classes())


def suggest_layer_names(layer: str, modules: Iterable[nn.Module]) -> list[str]:
    """Class names occurring in ``modules`` (their MRO included) that look like ``layer``."""
    seen: set[str] = set()
    for m in modules:
        seen.update(
            c.__name__ for c in type(m).__mro__ if issubclass(c, nn.Module) and not c.__name__.startswith("_")
        )
    return close_matches(layer, seen)


def _is_pattern(name: str) -> bool:
    return any(ch in name for ch in "*?[")


def _path_matches(pattern: tuple[str, ...], path: str) -> bool:
    parts = path.split(".")
    return len(parts) == len(pattern) and all(fnmatchcase(p, q) for p, q in zip(parts, pattern))


def resolve_override(scope: nn.Module, name: str) -> list[nn.Module]:
    """The submodules of ``scope`` that an ``override`` ``name`` means.

    ``name`` is an attribute name of a direct child (mmengine), a dotted path
    (``'layer1.0.conv1'``, ModuleList indices included), or a pattern whose segments are
    globs, each matching one level (``'blocks.*.attn.proj'``, ``'layer?.0'``).

    Raises:
        OverrideNameError: nothing by that name; the message lists the closest real paths.
    """
    if _is_pattern(name):
        pattern = tuple(name.split("."))
        found = [m for path, m in scope.named_modules() if path and _path_matches(pattern, path)]
        if found:
            return found
    else:
        try:
            module = scope.get_submodule(name)
        except AttributeError:
            module = None
        if isinstance(module, nn.Module) and module is not scope:
            return [module]
    paths = [n for n, _ in scope.named_modules() if n]
    hints = close_matches(name, paths) or close_matches(
        name.rsplit(".", 1)[-1], [p.rsplit(".", 1)[-1] for p in paths]
    )
    hint = f" Did you mean {' or '.join(repr(h) for h in hints)}?" if hints else ""
    children = ", ".join(n for n, _ in scope.named_children()) or "(none)"
    raise OverrideNameError(
        f"override name={name!r} names no submodule of {type(scope).__name__}.{hint} "
        f"Its direct children are: {children}. Names are attribute paths ('head.cls', 'blocks.0.attn'); "
        "'*' matches one level ('blocks.*.attn')."
    )
