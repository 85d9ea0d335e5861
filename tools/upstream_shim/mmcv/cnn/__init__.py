"""Shim: ``mmcv.cnn`` is torchinit's bricks (1.7 and 2.x) and, as in 1.7, its weight init."""

from _not_shipped import not_shipped
from mmengine.model import *  # noqa: F403  (1.7's weight init lived in mmcv.cnn)

from .bricks import *  # noqa: F403

globals().update(not_shipped("mmcv.cnn", "MODELS", "build_model_from_cfg", "fuse_conv_bn"))
