"""``init_cfg`` dicts and lists -> validated, immutable rule specs.

Every mistake a config can hold is raised here, before the engine touches a weight, as an
exception of :mod:`torchinit.errors` whose message says where the rule is, what is wrong and
what would be right. The caller's dicts are never modified.

A rule dict has the keys

* ``type``: a registered initializer name, or the class (or fill function) itself;
* ``layer``: a class name, a class, or a list of them: the modules the rule fills;
* ``override``: a dict or list of dicts, each with ``name`` (a submodule) and either nothing
  else (reuse this rule) or a ``type`` with its own arguments;
* ``bias`` (a number) and ``bias_prob`` (a probability; wins over ``bias``);
* the initializer's own arguments (``val``, ``std``, ``mode``...).

Any value is either accepted or rejected with a :class:`~torchinit.ConfigError`, never another
exception: a config nested more than :data:`MAX_DEPTH` levels or containing itself, keys that
are not strings, numbers past float64, mappings that misreport their keys, and initializer
classes whose constructors raise are all reported as config errors.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ._config_data import MAX_DEPTH, copy_init_cfg, plain_config
from ._init_base import OWN_MODULES
from .errors import ConfigError, ConfigKeyError, ConfigTypeError, ConfigValueError
from .functional import _real, bias_init_with_prob
from .initializers import WEIGHT_INITIALIZERS, BaseInit, Pretrained, describe_initializer
from .registry import (
    _signature,
    call_constructor,
    check_keys,
    check_kwargs,
    describe_value,
    short_repr,
)

__all__ = [
    "MAX_DEPTH",
    "FunctionInit",
    "LayerSpec",
    "OverrideSpec",
    "RuleSpec",
    "copy_init_cfg",
    "parse_init_cfg",
]

LayerSpec = str | type[nn.Module]
RULE_KEYS = ("layer", "param", "buffer", "override", "bias", "bias_prob")


@dataclass(frozen=True)
class FunctionInit:
    """A plain fill function used as ``type``: ``fn(tensor, **kwargs, generator=...)``."""

    fn: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    random: bool = True
    needs_fan: bool = False

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        with torch.no_grad():
            if "generator" in _parameter_names(self.fn):
                self.fn(tensor, **self.kwargs, generator=generator)
            else:
                self.fn(tensor, **self.kwargs)
        return tensor

    def check_tensor(self, tensor: Tensor, where: str) -> None:
        return None

    def describe(self) -> str:
        args = ", ".join(f"{k}={short_repr(v)}" for k, v in self.kwargs.items())
        return f"{_name_of(self.fn)}({args})"


def _name_of(fn: Any) -> str:
    try:
        name = getattr(fn, "__name__", None)
    except Exception:
        name = None
    return name if isinstance(name, str) else type(fn).__name__


def _parameter_names(fn: Callable[..., Any]) -> set[str]:
    signature = _signature(fn)
    return set() if signature is None else set(signature.parameters)


def _signature_text(signature: inspect.Signature) -> str:
    """``(tensor, std=1.0)``, shortened; ``(...)`` when a default cannot be printed."""
    try:
        text = str(signature)
    except Exception:
        return "(...)"
    return text if len(text) <= 120 else text[:116] + "...)"


def _check_function_args(fn: Callable[..., Any], kwargs: Mapping[str, Any], where: str) -> None:
    """Raise unless ``fn(tensor, **kwargs)`` binds to ``fn``'s signature (``generator`` is ours).

    A builtin without a readable signature passes: the engine runs it as user code.
    """
    name = _name_of(fn)
    if "generator" in kwargs:
        raise ConfigTypeError(
            f"{where}: generator is passed to {name} by the engine (initialize(..., seed=N)); remove it from the rule."
        )
    signature = _signature(fn)
    if signature is None:
        return
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    first = next((p for p in signature.parameters.values() if p.kind in positional), None)
    if first is None:
        raise ConfigTypeError(
            f"{where}: the function {name}{_signature_text(signature)} cannot fill a tensor: it must take "
            "the tensor as its first positional argument, e.g. def fill(tensor, std=0.02)."
        )
    check_kwargs(
        fn, kwargs, f"{where}: the function {name} (after the tensor)", skip=(first.name, "generator")
    )
    extra = {"generator": None} if "generator" in signature.parameters else {}
    try:
        signature.bind(None, **kwargs, **extra)
    except TypeError as exc:
        raise ConfigTypeError(
            f"{where}: the function {name}{_signature_text(signature)} cannot be called as {name}(tensor, "
            f"{', '.join(f'{k}=...' for k in kwargs)}): {exc}."
        ) from None


@dataclass(frozen=True)
class OverrideSpec:
    """``override`` entry: fill the whole submodule ``name`` with ``rule``."""

    name: str
    rule: RuleSpec


@dataclass(frozen=True)
class RuleSpec:
    """One validated rule.

    Attributes:
        init: the initializer (a fill initializer, a :class:`Pretrained`, or an
            mmengine-style :class:`BaseInit` whose ``__call__`` walks modules itself).
        layer: the classes (by name or object) this rule fills; empty means none.
        params: glob patterns on parameter names (``'weight'``, ``'*token'``): the rule fills
            exactly the parameters whose local name matches (inside ``layer`` modules if
            ``layer`` is given, else anywhere in its scope). None: weight and bias.
        bias: the constant that biases of filled modules get.
        overrides: submodules filled whole by their own rule.
        where: where the rule came from, for messages (``"init_cfg of backbone[1]"``).
        raw: the dict as the user wrote it.
        buffers: glob patterns on buffer names (``'position_ids'``, ``'inv_freq'``): the rule
            fills exactly the buffers whose local name matches, as ``params`` does for
            parameters. None: no buffers.
    """

    init: Any
    layer: tuple[LayerSpec, ...]
    params: tuple[str, ...] | None
    bias: float
    overrides: tuple[OverrideSpec, ...]
    where: str
    raw: Mapping[str, Any]
    buffers: tuple[str, ...] | None = None

    @property
    def selects(self) -> bool:
        """Does the rule name its tensors (``param``/``buffer``) instead of weight and bias?"""
        return self.params is not None or self.buffers is not None

    @property
    def is_pretrained(self) -> bool:
        return isinstance(self.init, Pretrained)

    @property
    def is_opaque(self) -> bool:
        """An mmengine-style initializer the engine can only call, not look inside."""
        return isinstance(self.init, BaseInit)

    def describe(self) -> str:
        return describe_initializer(self.init)


def _fail(cls: type[ConfigError], where: str, message: str) -> ConfigError:
    return cls(f"{where}: {message}")


def _check_bias(where: str, cfg: Mapping[str, Any]) -> float:
    try:
        bias = _real(cfg.get("bias", 0), "bias", kind="a real number")
    except ConfigError as exc:
        raise _fail(type(exc), where, str(exc)) from None
    prob = cfg.get("bias_prob")
    if prob is None:
        return bias
    if isinstance(prob, bool) or not isinstance(prob, (int, float)):
        raise _fail(
            ConfigTypeError, where, f"bias_prob must be a number in (0, 1), got {describe_value(prob)}."
        )
    if not 0 < prob < 1:
        raise _fail(
            ConfigValueError, where, f"bias_prob must lie strictly between 0 and 1, got {short_repr(prob)}."
        )
    try:
        return bias_init_with_prob(prob)
    except ConfigValueError:
        raise _fail(
            ConfigValueError,
            where,
            f"bias_prob={prob!r} is too close to 0: the bias it sets, -log((1 - p) / p), is not a finite "
            "number. Use a bias_prob of at least 1e-300, or give bias directly.",
        ) from None


def _check_layer(where: str, layer: Any) -> tuple[LayerSpec, ...]:
    if layer is None:
        return ()
    items = [layer] if isinstance(layer, (str, type)) else layer
    if not isinstance(items, (list, tuple)):
        raise _fail(
            ConfigTypeError,
            where,
            f"layer must be a class name, a class or a list of them, got {describe_value(layer)}.",
        )
    for item in items:
        if not (isinstance(item, str) or (isinstance(item, type) and issubclass(item, nn.Module))):
            raise _fail(
                ConfigTypeError,
                where,
                f"layer entries must be class names (e.g. 'Conv2d') or nn.Module classes, got {describe_value(item)}.",
            )
    return tuple(items)


def _check_params(where: str, cfg: Mapping[str, Any], key: str = "param") -> tuple[str, ...] | None:
    """``param`` (or ``buffer``): names or globs of the tensors the rule fills."""
    selector = cfg.get(key)
    if selector is None:
        return None
    what = "parameter" if key == "param" else "buffer"
    example = "'weight', '*token'" if key == "param" else "'position_ids', 'inv_freq'"
    items = [selector] if isinstance(selector, str) else selector
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(p, str) and p for p in items):
        raise _fail(
            ConfigTypeError,
            where,
            f"{key} must be a {what} name or glob ({example}) or a list of them, got {describe_value(selector)}.",
        )
    if "bias" in cfg or "bias_prob" in cfg:
        raise _fail(
            ConfigValueError,
            where,
            f"bias/bias_prob cannot be combined with {key}: with {key} the initializer fills exactly the "
            "selected tensors. Select biases with a rule of their own, e.g. "
            "dict(type='Constant', val=0, param='bias').",
        )
    return tuple(items)


def _rewrap(exc: ConfigError, where: str) -> ConfigError:
    """``exc`` with ``where`` in front of its message, as the same class where possible."""
    try:
        return type(exc)(f"{where}: {exc}")
    except Exception:  # a ConfigError subclass of your own with another constructor
        return ConfigValueError(f"{where}: {exc}")


def _build_initializer(where: str, type_: Any, args: dict[str, Any], cfg: Mapping[str, Any]) -> Any:
    try:
        target = WEIGHT_INITIALIZERS.get(type_)
    except ConfigError as exc:
        raise _rewrap(exc, where) from None
    name = repr(_name_of(target))
    if isinstance(target, type) and issubclass(target, BaseInit):
        # mmengine-style: the class itself takes bias, bias_prob and layer.
        for key in ("bias", "bias_prob", "layer"):
            if key in cfg:
                args[key] = cfg[key]
        check_kwargs(target, args, f"{where}: initializer {name}")
        return _construct(target, args, where, name)
    if not isinstance(target, type):
        if not callable(target):
            raise _fail(
                ConfigTypeError, where, f"type must be a class or a function, got {describe_value(target)}."
            )
        _check_function_args(target, args, where)
        return FunctionInit(target, dict(args))
    taken = [p for p in _parameter_names(target) if p != "self"]
    if isinstance(target, type) and issubclass(target, Pretrained):
        extra = [k for k in RULE_KEYS if k in cfg and k != "override"]
        if extra:
            raise _fail(
                ConfigTypeError,
                where,
                f"Pretrained does not take {', '.join(repr(k) for k in extra)}: it loads whatever the "
                f"checkpoint holds under its prefix. It takes: {', '.join(taken)}.",
            )
    try:
        check_kwargs(target, args, f"initializer {name}")
    except ConfigTypeError as exc:
        if not issubclass(target, Pretrained):
            exc = ConfigTypeError(f"{exc} Every rule also takes: {', '.join(RULE_KEYS)}.")
        raise _fail(ConfigTypeError, where, str(exc)) from None
    init = _construct(target, args, where, name)
    try:
        fills = callable(getattr(init, "fill", None))
    except Exception:  # a fill property that raises
        fills = False
    if not fills and not isinstance(init, Pretrained):
        raise _fail(
            ConfigTypeError,
            where,
            f"initializer {name} has no fill(tensor, *, generator) method and is not a BaseInit subclass.",
        )
    return init


def _construct(target: type, args: Mapping[str, Any], where: str, name: str) -> Any:
    """``target(**args)``; whatever it raises becomes a ConfigError naming ``where`` and the class."""
    try:
        return call_constructor(target, args, f"{where}: initializer {name}")
    except ConfigError as exc:
        if str(exc).startswith(f"{where}: "):
            raise
        raise _rewrap(exc, where) from None


def _parse_rule(cfg: Any, where: str, *, allow_override: bool = True) -> RuleSpec:
    if not isinstance(cfg, Mapping):
        raise _fail(
            ConfigTypeError,
            where,
            f"each rule must be a dict like dict(type='Kaiming', layer='Conv2d'), got {describe_value(cfg)}.",
        )
    check_keys(cfg, where)
    if "type" not in cfg:
        raise ConfigKeyError(
            f"{where}: the rule {short_repr(cfg, 200)} has no 'type'. Add one of: "
            f"{', '.join(WEIGHT_INITIALIZERS.names())}."
        )
    args = {k: v for k, v in cfg.items() if k != "type" and k not in RULE_KEYS}
    init = _build_initializer(where, cfg["type"], args, cfg)
    layer = _check_layer(where, cfg.get("layer"))
    params = _check_params(where, cfg)
    buffers = _check_params(where, cfg, "buffer")
    bias = _check_bias(where, cfg)
    overrides: tuple[OverrideSpec, ...] = ()
    if "override" in cfg and cfg["override"] is not None:
        if not allow_override:
            raise _fail(ConfigValueError, where, "an override entry cannot hold another override.")
        overrides = _parse_overrides(cfg, where)
    if (params is not None or buffers is not None) and isinstance(
        init, BaseInit
    ):  # Pretrained refused them above
        raise _fail(ConfigTypeError, where, f"param/buffer cannot be used with {describe_initializer(init)}.")
    return RuleSpec(
        init=init,
        layer=layer,
        params=params,
        bias=bias,
        overrides=overrides,
        where=where,
        raw=cfg,
        buffers=buffers,
    )


def _parse_overrides(cfg: Mapping[str, Any], where: str) -> tuple[OverrideSpec, ...]:
    override = cfg["override"]
    entries = [override] if isinstance(override, Mapping) else override
    if not isinstance(entries, (list, tuple)):
        raise _fail(
            ConfigTypeError,
            where,
            f"override must be a dict or a list of dicts, got {describe_value(override)}.",
        )
    parent = {k: v for k, v in cfg.items() if k != "override"}
    specs = []
    for i, entry in enumerate(entries):
        at = _override_where(where, i, len(entries))
        if not isinstance(entry, Mapping):
            raise _fail(ConfigTypeError, at, f"must be a dict with a 'name', got {describe_value(entry)}.")
        check_keys(entry, at)
        if entry.get("name") is None:
            raise _fail(
                ConfigValueError,
                at,
                f"{short_repr(entry, 200)} has no 'name': say which submodule it fills, e.g. name='cls'.",
            )
        name = entry["name"]
        if not isinstance(name, str) or not name:
            raise _fail(ConfigTypeError, at, f"name must be a submodule name, got {describe_value(name)}.")
        rest = {k: v for k, v in entry.items() if k != "name"}
        if not rest:
            rule = _parse_rule(parent, at, allow_override=False)
        elif "type" not in rest:
            raise _fail(
                ConfigValueError,
                at,
                f"{short_repr(entry, 200)} has arguments but no 'type'. Either give only name={name!r} to reuse "
                f"the rule's type and arguments, or add a type, e.g. dict(name={name!r}, "
                f"type={cfg['type'] if isinstance(cfg['type'], str) else 'Constant'!r}, ...).",
            )
        else:
            rule = _parse_rule(rest, at, allow_override=False)
        specs.append(OverrideSpec(name=name, rule=rule))
    return tuple(specs)


def parse_init_cfg(init_cfg: Any, where: str = "init_cfg") -> tuple[RuleSpec, ...]:
    """Validate ``init_cfg`` (a dict, a list/tuple of dicts, or None) into rule specs.

    Any input either gives rule specs or raises one of these; ``init_cfg`` is read once
    (into plain dicts and lists) and never modified.

    Raises:
        ConfigTypeError, ConfigValueError, ConfigKeyError, UnknownTypeError: with a message
            that starts with ``where`` and names the key, the value and the fix.
    """
    if init_cfg is None:
        return ()
    init_cfg = plain_config(init_cfg, where)
    if isinstance(init_cfg, Mapping):
        items: Sequence[Any] = [init_cfg]
    elif isinstance(init_cfg, (list, tuple)):
        items = init_cfg
    else:
        raise ConfigTypeError(
            f"{where} must be a dict or a list of dicts, e.g. dict(type='Kaiming', layer='Conv2d'), "
            f"got {describe_value(init_cfg)}."
        )
    return tuple(_parse_rule(item, _item_where(where, i, len(items))) for i, item in enumerate(items))


def _item_where(where: str, i: int, count: int) -> str:
    return f"{where}[{i}]" if count > 1 else where


def _override_where(where: str, i: int, count: int) -> str:
    return f"{where} override[{i}]" if count > 1 else f"{where} override"


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
