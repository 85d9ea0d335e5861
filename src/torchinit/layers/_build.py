"""The one place a layer cfg becomes a layer: validate, look up, check the call, build.

Every ``build_*_layer`` goes through :func:`build_layer`, so each of them rejects the same
mistakes with the same sentences: a cfg that is not a dict, a missing or unknown ``type``,
an argument the layer does not take, a required one nobody gave, or one given twice.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from ..errors import ConfigKeyError, ConfigTypeError, ConfigValueError
from ..registry import Registry, describe_value, did_you_mean

__all__ = ["LayerCfg", "build_layer", "check_call", "split_cfg"]

LayerCfg: TypeAlias = Mapping[str, Any]
"""A layer config: a dict with ``type`` (a registered name or a class) and the layer's
keyword arguments, e.g. ``dict(type='GN', num_groups=32)``."""


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
    target = registry.get(layer_type)
    name = layer_type if isinstance(layer_type, str) else getattr(target, "__name__", repr(target))
    return target, name, rest


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
    ``functools.partial`` (``'nearest'`` is ``partial(nn.Upsample, mode='nearest')``), the
    arguments it fixes cannot be given again.

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
    if isinstance(target, functools.partial):
        fixed = sorted(set(target.keywords) & (set(rest) | set(kwargs)))
        if fixed:
            raise ConfigTypeError(
                f"{what} sets {', '.join(f'{k}={target.keywords[k]!r}' for k in fixed)} itself; "
                f"remove {', '.join(repr(k) for k in fixed)} from the cfg."
            )
    kwargs.update(rest)
    check_call(target, args, kwargs, what)
    try:
        return target(*args, **kwargs)
    except TypeError as exc:
        raise ConfigTypeError(f"building {what} from {dict(cfg)!r} failed: {exc}") from exc
    except ValueError as exc:
        raise ConfigValueError(f"building {what} from {dict(cfg)!r} failed: {exc}") from exc
