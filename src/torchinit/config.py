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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from ._config_data import MAX_DEPTH, copy_init_cfg, plain_config
from ._function_init import FunctionInit, check_function_args, function_name, parameter_names
from .errors import ConfigError, ConfigKeyError, ConfigTypeError, ConfigValueError
from .functional import _real, bias_init_with_prob
from .initializers import WEIGHT_INITIALIZERS, BaseInit, Pretrained, describe_initializer
from .registry import (
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
    name = repr(function_name(target))
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
        check_function_args(target, args, where)
        return FunctionInit(target, dict(args))
    taken = [p for p in parameter_names(target) if p != "self"]
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
