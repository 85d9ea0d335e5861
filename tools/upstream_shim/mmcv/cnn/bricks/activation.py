"""Shim: ``mmcv.cnn.bricks.activation``."""

from torchinit.layers import Clamp, build_activation_layer

__all__ = ["Clamp", "build_activation_layer"]
