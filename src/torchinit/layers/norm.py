"""``build_norm_layer``, its name table ``NORM_LAYERS`` and attribute-name inference.

======  =========================  ======
type    layer                      name
======  =========================  ======
BN      ``nn.BatchNorm2d``         bn
BN1d    ``nn.BatchNorm1d``         bn
BN2d    ``nn.BatchNorm2d``         bn
BN3d    ``nn.BatchNorm3d``         bn
SyncBN  ``nn.SyncBatchNorm``       bn
GN      ``nn.GroupNorm``           gn
LN      ``nn.LayerNorm``           ln
IN      ``nn.InstanceNorm2d``      in
IN1d    ``nn.InstanceNorm1d``      in
IN2d    ``nn.InstanceNorm2d``      in
IN3d    ``nn.InstanceNorm3d``      in
======  =========================  ======
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ..errors import ConfigTypeError
from ..registry import Registry, describe_value
from ._build import LayerCfg, build_layer, split_cfg, takes_argument

__all__ = ["NORM_LAYERS", "build_norm_layer", "infer_abbr", "is_norm"]

NORM_LAYERS = Registry("norm layer", import_path="torchinit.NORM_LAYERS")
NORM_LAYERS.register_module("BN1d", module=nn.BatchNorm1d)
NORM_LAYERS.register_module(["BN2d", "BN"], module=nn.BatchNorm2d)
NORM_LAYERS.register_module("BN3d", module=nn.BatchNorm3d)
NORM_LAYERS.register_module("SyncBN", module=nn.SyncBatchNorm)
NORM_LAYERS.register_module("GN", module=nn.GroupNorm)
NORM_LAYERS.register_module("LN", module=nn.LayerNorm)
NORM_LAYERS.register_module("IN1d", module=nn.InstanceNorm1d)
NORM_LAYERS.register_module(["IN2d", "IN"], module=nn.InstanceNorm2d)
NORM_LAYERS.register_module("IN3d", module=nn.InstanceNorm3d)

DEFAULT_EPS = 1e-5
"""The ``eps`` every norm layer built from a cfg gets unless the cfg sets it (mmcv's rule)."""

_NORM_BASES: tuple[type, ...] = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)

# Checked in this order: an instance norm is tested before a batch norm, since older torch
# versions derived one from the other.
_ABBR_BY_CLASS: tuple[tuple[type, str], ...] = (
    (_InstanceNorm, "in"),
    (_BatchNorm, "bn"),
    (nn.GroupNorm, "gn"),
    (nn.LayerNorm, "ln"),
)
_ABBR_BY_WORD: tuple[tuple[str, str], ...] = (
    ("batch", "bn"),
    ("group", "gn"),
    ("layer", "ln"),
    ("instance", "in"),
)


def infer_abbr(class_type: type) -> str:
    """The short name a norm layer of this class gets as an attribute (``bn``, ``gn``, ...).

    Rules, first match wins:

    1. the class's own ``_abbr_`` attribute, if it defines one (mmcv's convention);
    2. a subclass of an instance norm: ``in``; of a batch norm (SyncBN too): ``bn``;
       of ``nn.GroupNorm``: ``gn``; of ``nn.LayerNorm``: ``ln``;
    3. the lower-cased class name contains ``batch``: ``bn``; ``group``: ``gn``;
       ``layer``: ``ln``; ``instance``: ``in``;
    4. otherwise ``norm_layer``.

    Example:
        >>> infer_abbr(nn.GroupNorm)
        'gn'
    """
    if not isinstance(class_type, type):
        raise ConfigTypeError(f"class_type must be a class, got {describe_value(class_type)}.")
    abbr = getattr(class_type, "_abbr_", None)
    if abbr is not None:
        return str(abbr)
    for base, short in _ABBR_BY_CLASS:
        if issubclass(class_type, base):
            return short
    lowered = class_type.__name__.lower()
    for word, short in _ABBR_BY_WORD:
        if word in lowered:
            return short
    return "norm_layer"


def build_norm_layer(cfg: LayerCfg, num_features: int, postfix: int | str = "") -> tuple[str, nn.Module]:
    """Build a normalization layer for ``num_features`` channels and name it.

    Args:
        cfg: ``dict(type=...)`` plus the layer's arguments (``num_groups`` for GN).
            ``requires_grad=False`` in it freezes the layer's parameters. A layer that takes
            ``eps`` gets ``eps=1e-5`` unless the cfg sets it, as mmcv does, even when the
            layer's own default differs (a model built by mmcv and by torchinit computes the
            same).
        num_features: channels to normalize; given as ``num_channels`` to layers that take
            that argument (GN), as the first positional argument otherwise.
        postfix: appended to the name (``postfix=1`` gives ``bn1``).

    Returns:
        ``(name, layer)``: the name is :func:`infer_abbr` of the layer's class plus postfix.

    Example:
        >>> name, layer = build_norm_layer(dict(type='GN', num_groups=2), 8, postfix=1)
        >>> name, layer.num_groups, layer.num_channels
        ('gn1', 2, 8)
    """
    if isinstance(postfix, bool) or not isinstance(postfix, (int, str)):
        raise ConfigTypeError(f"postfix must be an int or a str, got {describe_value(postfix)}.")
    target, _, rest = split_cfg(cfg, NORM_LAYERS)
    requires_grad = rest.pop("requires_grad", True)
    if not isinstance(requires_grad, bool):
        raise ConfigTypeError(
            f"requires_grad in a norm cfg must be a bool, got {describe_value(requires_grad)}."
        )
    if not isinstance(target, type):
        raise ConfigTypeError(f"a norm layer type must be a class, got {describe_value(target)}.")
    layer_cfg = {k: v for k, v in cfg.items() if k != "requires_grad"}
    kwargs: dict[str, Any] = {}
    if "eps" not in layer_cfg and takes_argument(target, "eps"):
        kwargs["eps"] = DEFAULT_EPS
    if takes_argument(target, "num_channels"):
        layer = build_layer(NORM_LAYERS, layer_cfg, (), {"num_channels": num_features, **kwargs})
    else:
        layer = build_layer(NORM_LAYERS, layer_cfg, (num_features,), kwargs)
    for param in layer.parameters():
        param.requires_grad = requires_grad
    return infer_abbr(target) + str(postfix), layer


def is_norm(layer: nn.Module, exclude: type | tuple[type, ...] | None = None) -> bool:
    """Whether ``layer`` is a batch, instance, group or layer norm (or a subclass of one).

    Args:
        layer: the module to check.
        exclude: a class or a tuple of classes; a layer of one of them counts as no norm.

    Example:
        >>> is_norm(nn.BatchNorm2d(3)), is_norm(nn.BatchNorm2d(3), exclude=_BatchNorm)
        (True, False)
    """
    if exclude is not None:
        excluded = exclude if isinstance(exclude, tuple) else (exclude,)
        if not all(isinstance(cls, type) for cls in excluded):
            raise ConfigTypeError(
                f"is_norm: exclude must be None, a class or a tuple of classes, got {describe_value(exclude)}."
            )
        if isinstance(layer, excluded):
            return False
    return isinstance(layer, _NORM_BASES)
