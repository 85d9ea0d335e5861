"""``build_padding_layer`` and its name table ``PADDING_LAYERS``.

=========  ========================
type       layer
=========  ========================
zero       ``nn.ZeroPad2d``
reflect    ``nn.ReflectionPad2d``
replicate  ``nn.ReplicationPad2d``
=========  ========================
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..registry import Registry
from ._build import LayerCfg, build_layer

__all__ = ["PADDING_LAYERS", "build_padding_layer"]

PADDING_LAYERS = Registry("padding layer", import_path="torchinit.PADDING_LAYERS")
PADDING_LAYERS.register_module("zero", module=nn.ZeroPad2d)
PADDING_LAYERS.register_module("reflect", module=nn.ReflectionPad2d)
PADDING_LAYERS.register_module("replicate", module=nn.ReplicationPad2d)


def build_padding_layer(cfg: LayerCfg, *args: Any, **kwargs: Any) -> nn.Module:
    """Build a padding layer from ``cfg``; the other arguments (the padding) go to it too.

    Example:
        >>> pad = build_padding_layer(dict(type='reflect'), 2)
        >>> type(pad).__name__, pad.padding
        ('ReflectionPad2d', (2, 2, 2, 2))
    """
    return build_layer(PADDING_LAYERS, cfg, args, kwargs)
