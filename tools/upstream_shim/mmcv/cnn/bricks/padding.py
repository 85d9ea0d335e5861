"""Shim: ``mmcv.cnn.bricks.padding``."""

from torchinit.layers import PADDING_LAYERS, build_padding_layer

__all__ = ["PADDING_LAYERS", "build_padding_layer"]
