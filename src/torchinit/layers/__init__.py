"""Layers built from config dicts, and ConvModule.

Each ``build_*_layer`` takes ``dict(type=..., **arguments)`` where ``type`` is a name from
its registry (or from ``torchinit.MODELS``) or a class; add your own with
``@<REGISTRY>.register_module()``.
"""

from .activation import ACTIVATION_LAYERS, Clamp, HSigmoid, build_activation_layer
from .conv import CONV_LAYERS, build_conv_layer
from .conv_module import ConvModule
from .norm import NORM_LAYERS, build_norm_layer, infer_abbr, is_norm
from .padding import PADDING_LAYERS, build_padding_layer
from .upsample import UPSAMPLE_LAYERS, PixelShufflePack, build_upsample_layer

__all__ = [
    "ACTIVATION_LAYERS",
    "CONV_LAYERS",
    "Clamp",
    "ConvModule",
    "HSigmoid",
    "NORM_LAYERS",
    "PADDING_LAYERS",
    "PixelShufflePack",
    "UPSAMPLE_LAYERS",
    "build_activation_layer",
    "build_conv_layer",
    "build_norm_layer",
    "build_padding_layer",
    "build_upsample_layer",
    "infer_abbr",
    "is_norm",
]
