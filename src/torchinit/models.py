"""``MODELS``: the table of model classes, and ``build_model(cfg)``.

A model class registered here takes its sub-models as cfg dicts and builds them itself,
OpenMMLab style::

    @MODELS.register_module()
    class MyDetector(BaseModule):
        def __init__(self, backbone, init_cfg=None):
            super().__init__(init_cfg)
            self.backbone = build_model(backbone)

    model = build_model(dict(type='MyDetector', backbone=dict(type='MyBackbone'),
                             init_cfg=dict(type='Kaiming', layer='Conv2d')))
    model.init_weights()

As in mmcv 2.x, ``MODELS`` is also where the layer builders (``build_conv_layer`` & co.)
look for a type their own table lacks, so layers registered here (mmdet's ``SAC``, say) can
be named in a ``conv_cfg``; ``ConvModule`` and ``PixelShufflePack`` are registered here.
``MODELS.add_fallback(lookup)`` adds another registry's lookup for every builder at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from .registry import Registry, build_from_cfg

__all__ = ["MODELS", "build_model"]

MODELS = Registry("model", import_path="torchinit.MODELS")


def build_model(cfg: Mapping[str, Any], default_args: Mapping[str, Any] | None = None) -> nn.Module:
    """Build the model ``cfg['type']`` (a name in ``MODELS`` or a class) from the rest of ``cfg``.

    ``cfg`` is not modified; keys in ``cfg`` win over ``default_args``.

    Raises:
        ConfigTypeError: cfg is not a dict; an argument is unknown or missing (named).
        ConfigKeyError: cfg has no ``type``.
        UnknownTypeError: ``type`` is not in ``MODELS`` (close names listed).
    """
    return build_from_cfg(cfg, MODELS, default_args)
