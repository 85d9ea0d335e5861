"""The one place a layer cfg becomes a layer: validate, look up, check the call, build.

Every ``build_*_layer`` goes through :func:`build_layer`, so each of them rejects the same
mistakes with the same sentences: a cfg that is not a dict, a missing or unknown ``type``,
an argument the layer does not take, a required one nobody gave, or one given twice.

A ``type`` name is looked up, first match wins (mmcv 2.x keeps every layer in one
``MODELS`` registry and falls back to mmengine's; this is the same search over our tables):

1. the builder's own table (``CONV_LAYERS`` for :func:`build_conv_layer`, ...), with the
   lookups added to it by ``Registry.add_fallback``;
2. ``torchinit.MODELS`` (where downstream code registers layers such as mmdet's ``SAC``),
   with its added lookups. So one ``MODELS.add_fallback(other_registry.get)`` (what the
   mmengine bridge does with mmengine's ``MODELS``) reaches every layer builder.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from ..errors import ConfigKeyError, ConfigTypeError, ConfigValueError, UnknownTypeError
from ..models import MODELS
from ..registry import Registry, describe_value, did_you_mean

__all__ = [
    "LayerCfg",
    "build_layer",
    "check_call",
    "find_layer_type",
    "resolve_layer_type",
    "split_cfg",
    "takes_argument",
]

LayerCfg: TypeAlias = Mapping[str, Any]
"""A layer config: a dict with ``type`` (a registered name or a class) and the layer's
keyword arguments, e.g. ``dict(type='GN', num_groups=32)``."""


def find_layer_type(registry: Registry, name: str) -> Any | None:
    """What ``name`` means for the builder of ``registry`` (see the module docstring), or None."""
    if name in registry:
        return registry.get(name)
    if name in MODELS:
        return MODELS.get(name)
    return None


def resolve_layer_type(registry: Registry, layer_type: Any) -> Any:
    """The class (or function) a cfg's ``type`` names: a class as it is, a name looked up.

    Raises:
        ConfigTypeError: ``layer_type`` is neither a str nor callable.
        UnknownTypeError: no table holds the name (close names and every registered name listed).
    """
    if not isinstance(layer_type, str):
        return registry.get(layer_type)
    found = find_layer_type(registry, layer_type)
    if found is not None:
        return found
    try:
        registry.get(layer_type)
    except UnknownTypeError as exc:
        raise UnknownTypeError(f"{exc} It is not in torchinit.MODELS either.") from None
    raise AssertionError("unreachable: the registry holds a name find_layer_type missed")


def split_cfg(cfg: Any, registry: Registry) -> tuple[Callable[..., Any], str, dict[str, Any]]:
    """Validate ``cfg`` and return ``(what to call, its display name, the other keys)``.

    The caller's dict is not modified; the returned keys are a new dict.
    """
    if not isinstance(cfg, Mapping):
        raise ConfigTypeError(
            f"a {registry.name} cfg must be a dict with a 'type' key, got {describe_value(cfg)}."
        )
    if "type" not in cfg:
        raise ConfigKeyError(
            f"a {registry.name} cfg needs a 'type' key naming one of: {', '.join(registry.names())}; "
            f"got {dict(cfg)!r}."
        )
    rest = dict(cfg)
    layer_type = rest.pop("type")
    target = resolve_layer_type(registry, layer_type)
    name = layer_type if isinstance(layer_type, str) else getattr(target, "__name__", repr(target))
    return target, name, rest


def takes_argument(target: Any, argument: str) -> bool:
    """Whether ``target``'s signature names ``argument`` (False when it has no signature)."""
    try:
        return argument in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False


def _accepted(signature: inspect.Signature) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in signature.parameters.values() if p.kind in kinds]


def check_call(target: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any], what: str) -> None:
    """Raise a ConfigTypeError naming the argument if ``target(*args, **kwargs)`` cannot bind.

    Unknown keywords are named with close matches and the list the layer takes; a missing
    required argument or one given twice is named as well.
    """
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return
    accepted = _accepted(signature)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    unknown = [] if takes_any else [k for k in kwargs if k not in accepted]
    if unknown:
        hints = "".join(did_you_mean(k, accepted) for k in unknown)
        raise ConfigTypeError(
            f"{what} got unexpected argument(s) {', '.join(repr(k) for k in unknown)}.{hints} "
            f"It takes: {', '.join(accepted) or '(no arguments)'}."
        )
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise ConfigTypeError(
            f"{what}: {exc}. It takes: {', '.join(accepted) or '(no arguments)'}."
        ) from None


def build_layer(
    registry: Registry,
    cfg: Any,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> Any:
    """Build ``registry.get(cfg['type'])(*args, **kwargs, **other_cfg_keys)``.

    A key may come from the cfg or from the caller, not both. When the registered entry is a
    ``functools.partial`` (``'nearest'`` is ``partial(nn.Upsample, mode='nearest')``), an
    argument it fixes may be given again only with the same value.

    Raises:
        ConfigTypeError: cfg is not a dict; an argument is unknown, missing or given twice;
            the layer's constructor raised a TypeError.
        ConfigKeyError: cfg has no ``type``.
        UnknownTypeError: ``type`` is not registered (close names listed).
        ConfigValueError: the layer's constructor rejected a value (a ValueError).
    """
    target, name, rest = split_cfg(cfg, registry)
    what = f"{registry.name} {name!r}"
    kwargs = dict(kwargs or {})
    twice = sorted(set(rest) & set(kwargs))
    if twice:
        raise ConfigTypeError(
            f"{what}: {', '.join(repr(k) for k in twice)} given both in the cfg {dict(cfg)!r} "
            "and by the caller; remove it from one of them."
        )
    kwargs.update(rest)
    if isinstance(target, functools.partial):
        fixed = set(target.keywords) & set(kwargs)
        clash = sorted(k for k in fixed if kwargs[k] != target.keywords[k])
        if clash:
            raise ConfigTypeError(
                f"{what} sets {', '.join(f'{k}={target.keywords[k]!r}' for k in clash)} itself; "
                f"remove {', '.join(repr(k) for k in clash)} from the cfg."
            )
        for key in fixed:  # the same value again (mode='nearest' with type='nearest'): harmless
            del kwargs[key]
    check_call(target, args, kwargs, what)
    try:
        return target(*args, **kwargs)
    except TypeError as exc:
        raise ConfigTypeError(f"building {what} from {dict(cfg)!r} failed: {exc}") from exc
    except ValueError as exc:
        raise ConfigValueError(f"building {what} from {dict(cfg)!r} failed: {exc}") from exc
