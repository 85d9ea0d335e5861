"""Shim: ``mmcv.cnn.bricks.hswish``: what torchinit registers as 'HSwish' (torch's Hardswish,
as mmcv registers on torch >= 1.7; mmcv's own HSwish class is not shipped)."""

from torchinit.layers import ACTIVATION_LAYERS

HSwish = ACTIVATION_LAYERS.get("HSwish")

__all__ = ["HSwish"]
