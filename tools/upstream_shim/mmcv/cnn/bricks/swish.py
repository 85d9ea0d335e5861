"""Shim: ``mmcv.cnn.bricks.swish``: what torchinit registers as 'Swish' (torch's SiLU)."""

from torchinit.layers import ACTIVATION_LAYERS

Swish = ACTIVATION_LAYERS.get("Swish")

__all__ = ["Swish"]
