"""Shim: ``mmcv.cnn.bricks.norm``."""

from torchinit.layers import NORM_LAYERS, build_norm_layer, infer_abbr, is_norm

__all__ = ["NORM_LAYERS", "build_norm_layer", "infer_abbr", "is_norm"]
