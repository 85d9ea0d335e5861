"""Shim: ``mmcv.cnn.bricks`` is torchinit's layer builders, tables and bricks.

mmcv's names for torch classes (``Conv2d``, ``ConvTranspose2d``, ``Swish``, ``HSwish``, ...)
are whatever torchinit registers under them. Bricks torchinit does not ship are placeholders
that raise when used.
"""

from _not_shipped import not_shipped

from torchinit.layers import (
    ACTIVATION_LAYERS,
    CONV_LAYERS,
    NORM_LAYERS,
    PADDING_LAYERS,
    UPSAMPLE_LAYERS,
    ConvModule,
    HSigmoid,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    build_padding_layer,
    build_upsample_layer,
    is_norm,
)

from .activation import Clamp
from .hswish import HSwish
from .swish import Swish
from .upsample import PixelShufflePack

Conv2d = CONV_LAYERS.get("Conv2d")
Conv3d = CONV_LAYERS.get("Conv3d")
ConvTranspose2d = CONV_LAYERS.get("ConvTranspose2d")
ConvTranspose3d = CONV_LAYERS.get("ConvTranspose3d")

_NOT_SHIPPED = (
    "PLUGIN_LAYERS",
    "build_plugin_layer",
    "ContextBlock",
    "GeneralizedAttention",
    "NonLocal1d",
    "NonLocal2d",
    "NonLocal3d",
    "Conv2dAdaptivePadding",
    "ConvAWS2d",
    "ConvWS2d",
    "conv_ws_2d",
    "DepthwiseSeparableConvModule",
    "Scale",
    "LayerScale",
    "Dropout",
    "DropPath",
    "Linear",
    "MaxPool2d",
    "MaxPool3d",
)
globals().update(not_shipped("mmcv.cnn.bricks", *_NOT_SHIPPED))

__all__ = [
    "ACTIVATION_LAYERS",
    "CONV_LAYERS",
    "NORM_LAYERS",
    "PADDING_LAYERS",
    "UPSAMPLE_LAYERS",
    "Clamp",
    "Conv2d",
    "Conv3d",
    "ConvModule",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "HSigmoid",
    "HSwish",
    "PixelShufflePack",
    "Swish",
    "build_activation_layer",
    "build_conv_layer",
    "build_norm_layer",
    "build_padding_layer",
    "build_upsample_layer",
    "is_norm",
    *_NOT_SHIPPED,
]
