"""``build_conv_layer`` and its name table ``CONV_LAYERS``.

============================  ========================
type                          layer
============================  ========================
Conv1d                        ``nn.Conv1d``
Conv2d, Conv                  ``nn.Conv2d``
Conv3d                        ``nn.Conv3d``
deconv, ConvTranspose2d       ``nn.ConvTranspose2d``
deconv3d, ConvTranspose3d     ``nn.ConvTranspose3d``
============================  ========================

These are mmcv's names (1.x ``CONV_LAYERS``, 2.x ``MODELS``). mmcv registers its own
subclasses for ``Conv``, ``Conv3d`` and the transposed convs (they only add empty-tensor
support for torch < 1.5); the parameters and their names are the same. A name in none of
the tables here is also looked up in ``torchinit.MODELS`` (see ``_build``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from ..registry import Registry
from ._build import LayerCfg, build_layer

__all__ = ["CONV_LAYERS", "build_conv_layer"]

CONV_LAYERS = Registry("conv layer", import_path="torchinit.CONV_LAYERS")
CONV_LAYERS.register_module("Conv1d", module=nn.Conv1d)
CONV_LAYERS.register_module(["Conv2d", "Conv"], module=nn.Conv2d)
CONV_LAYERS.register_module("Conv3d", module=nn.Conv3d)
CONV_LAYERS.register_module(["deconv", "ConvTranspose2d"], module=nn.ConvTranspose2d)
CONV_LAYERS.register_module(["deconv3d", "ConvTranspose3d"], module=nn.ConvTranspose3d)


def build_conv_layer(cfg: LayerCfg | None, *args: Any, **kwargs: Any) -> nn.Module:
    """Build a convolution from ``cfg``; the positional and keyword arguments go to it too.

    Args:
        cfg: ``dict(type=...)`` plus the layer's own arguments; ``type`` is a name from
            ``CONV_LAYERS`` (or ``torchinit.MODELS``) or a class. None means
            ``dict(type='Conv2d')``.
        args, kwargs: passed to the layer (``in_channels, out_channels, kernel_size, ...``).

    Example:
        >>> layer = build_conv_layer(dict(type='Conv3d'), in_channels=3, out_channels=8, kernel_size=3)
        >>> type(layer).__name__, tuple(layer.weight.shape)
        ('Conv3d', (8, 3, 3, 3, 3))
    """
    if cfg is None:
        cfg = {"type": "Conv2d"}
    return build_layer(CONV_LAYERS, cfg, args, kwargs)
