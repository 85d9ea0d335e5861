"""Shim: ``mmcv.cnn.bricks.hsigmoid``."""

from torchinit.layers import HSigmoid

__all__ = ["HSigmoid"]
