"""Shim: ``mmcv.cnn.bricks.upsample``."""

from torchinit.layers import UPSAMPLE_LAYERS, PixelShufflePack, build_upsample_layer

__all__ = ["UPSAMPLE_LAYERS", "PixelShufflePack", "build_upsample_layer"]
