"""``build_upsample_layer``, its name table ``UPSAMPLE_LAYERS`` and ``PixelShufflePack``.

=============  ===============================================
type           layer
=============  ===============================================
nearest        ``nn.Upsample(mode='nearest')``
bilinear       ``nn.Upsample(mode='bilinear')``
deconv         ``nn.ConvTranspose2d``
deconv3d       ``nn.ConvTranspose3d``
pixel_shuffle  :class:`PixelShufflePack` (conv, then pixel shuffle)
=============  ===============================================
"""

from __future__ import annotations

import functools
from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from ..models import MODELS
from ..module import BaseModule, InitCfg
from ..registry import Registry
from ._build import LayerCfg, build_layer
from ._default_init import apply_default_init

__all__ = ["UPSAMPLE_LAYERS", "PixelShufflePack", "build_upsample_layer"]

UPSAMPLE_LAYERS = Registry("upsample layer", import_path="torchinit.UPSAMPLE_LAYERS")
UPSAMPLE_LAYERS.register_module("nearest", module=functools.partial(nn.Upsample, mode="nearest"))
UPSAMPLE_LAYERS.register_module("bilinear", module=functools.partial(nn.Upsample, mode="bilinear"))
UPSAMPLE_LAYERS.register_module("deconv", module=nn.ConvTranspose2d)
UPSAMPLE_LAYERS.register_module("deconv3d", module=nn.ConvTranspose3d)


@MODELS.register_module(["pixel_shuffle", "PixelShufflePack"])  # mmcv 2.x's name, and the class's
@UPSAMPLE_LAYERS.register_module(name="pixel_shuffle")
class PixelShufflePack(BaseModule):
    """Upsample by a convolution to ``out_channels · scale_factor²`` channels and a pixel shuffle.

    Shi et al. (2016), Real-Time Single Image and Video Super-Resolution Using an Efficient
    Sub-Pixel Convolutional Neural Network.

    Default init (:meth:`default_init_cfg`): Xavier uniform for ``upsample_conv``'s weight,
    0 for its bias; applied when the module is built, as mmcv does (not on the meta device),
    and again as the lowest-priority rule of ``init_weights()``.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        scale_factor: how many times larger each spatial side gets.
        upsample_kernel: kernel size of the convolution (padded to keep the size).

    Example:
        >>> import torch
        >>> up = PixelShufflePack(4, 2, scale_factor=2, upsample_kernel=3)
        >>> tuple(up(torch.zeros(1, 4, 5, 5)).shape)
        (1, 2, 10, 10)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        scale_factor: int,
        upsample_kernel: int,
        init_cfg: InitCfg | None = None,
    ) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factor = scale_factor
        self.upsample_kernel = upsample_kernel
        self.upsample_conv = nn.Conv2d(
            in_channels,
            out_channels * scale_factor * scale_factor,
            upsample_kernel,
            padding=(upsample_kernel - 1) // 2,
        )
        apply_default_init(self, self.default_init_cfg())

    def default_init_cfg(self) -> list[dict[str, Any]]:
        """Xavier uniform for ``upsample_conv`` (bias 0), as mmcv's ``init_weights`` does."""
        return [dict(type="Xavier", distribution="uniform", bias=0, override=dict(name="upsample_conv"))]

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.upsample_conv(x), self.scale_factor)


def build_upsample_layer(cfg: LayerCfg, *args: Any, **kwargs: Any) -> nn.Module:
    """Build an upsampling layer from ``cfg``; the other arguments go to it too.

    ``nearest`` and ``bilinear`` set ``nn.Upsample``'s ``mode`` themselves.

    Example:
        >>> build_upsample_layer(dict(type='nearest', scale_factor=2))
        Upsample(scale_factor=2.0, mode='nearest')
    """
    return build_layer(UPSAMPLE_LAYERS, cfg, args, kwargs)
