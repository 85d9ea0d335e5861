"""Config dicts for the example models, and ``build_detector`` / ``build_vit``.

Every weight's initialization is written in these configs, in the usual OpenMMLab style:

- ResNet backbone: Kaiming (fan_out, relu, normal) on Conv2d; weight 1, bias 0 on the norms.
- FPN neck: Xavier uniform on Conv2d.
- RetinaNet head: Normal(std=0.01) on Conv2d, and for ``retina_cls`` Normal(std=0.01) with
  the bias that makes the sigmoid output 0.01 (``bias_prob=0.01``).
- ViT: TruncNormal(std=0.02) on Linear; weight 1, bias 0 on LayerNorm; and, as in
  mmpretrain, Kaiming (fan_in, linear) on the patch-embedding Conv2d.

The defaults are small, so a model builds and initializes in milliseconds; the ``*_FULL``
configs are the real sizes (RetinaNet R-50-FPN: about 38M parameters; ViT-L/16: about
304M)::

    >>> from examples.models import build_detector, build_vit
    >>> model = build_detector()            # tiny ResNet-18-style RetinaNet, 4 classes
    >>> report = model.init_weights()
    >>> big = build_vit(**VIT_L16)          # ViT-L/16
"""

from __future__ import annotations

import copy
from typing import Any

from torch import nn

from torchinit import build_model

from . import detector as _detector  # noqa: F401  (registers ResNet, FPN, RetinaHead, RetinaNet)
from . import vit as _vit  # noqa: F401  (registers VisionTransformer)

__all__ = [
    "DETECTOR_CFG",
    "RETINANET_R50_FPN",
    "VIT_CFG",
    "VIT_L16",
    "backbone_init",
    "build_detector",
    "build_vit",
    "detector_cfg",
    "vit_cfg",
]


def backbone_init(norm_type: str = "BN") -> list[dict[str, Any]]:
    """Kaiming on Conv2d and weight 1 on the backbone's norm class (``_BatchNorm`` or ``GroupNorm``).

    mmdet lists both norm classes in one rule; naming only the one present keeps torchinit
    from warning that the other matches nothing.
    """
    norm_layer = "GroupNorm" if norm_type == "GN" else "_BatchNorm"
    return [dict(type="Kaiming", layer="Conv2d"), dict(type="Constant", val=1, layer=norm_layer)]


NECK_INIT = dict(type="Xavier", layer="Conv2d", distribution="uniform")
HEAD_INIT = dict(
    type="Normal",
    layer="Conv2d",
    std=0.01,
    override=dict(type="Normal", name="retina_cls", std=0.01, bias_prob=0.01),
)
VIT_INIT = [
    dict(type="Kaiming", layer="Conv2d", mode="fan_in", nonlinearity="linear"),
    dict(type="TruncNormal", layer="Linear", std=0.02, bias=0),
    dict(type="Constant", layer="LayerNorm", val=1, bias=0),
]

_BOTTLENECK_DEPTHS = (50, 101, 152)


def detector_cfg(
    depth: int = 18,
    base_channels: int = 16,
    neck_channels: int = 32,
    num_classes: int = 4,
    stacked_convs: int = 2,
    num_anchors: int = 9,
    norm_cfg: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The config of a RetinaNet: ResNet-``depth``, FPN (P3-P7), RetinaNet head.

    The defaults give a tiny model; ``detector_cfg(**RETINANET_R50_FPN)`` the real one.
    """
    norm_cfg = copy.deepcopy(norm_cfg) if norm_cfg is not None else dict(type="BN", requires_grad=True)
    expansion = 4 if depth in _BOTTLENECK_DEPTHS else 1
    stage_channels = [base_channels * 2**i * expansion for i in range(4)]
    return dict(
        type="RetinaNet",
        backbone=dict(
            type="ResNet",
            depth=depth,
            base_channels=base_channels,
            norm_cfg=norm_cfg,
            init_cfg=backbone_init(norm_cfg["type"]),
        ),
        neck=dict(
            type="FPN",
            in_channels=stage_channels,
            out_channels=neck_channels,
            start_level=1,
            add_extra_convs="on_input",
            num_outs=5,
            init_cfg=copy.deepcopy(NECK_INIT),
        ),
        bbox_head=dict(
            type="RetinaHead",
            num_classes=num_classes,
            in_channels=neck_channels,
            stacked_convs=stacked_convs,
            feat_channels=neck_channels,
            num_anchors=num_anchors,
            init_cfg=copy.deepcopy(HEAD_INIT),
        ),
    )


def vit_cfg(
    img_size: int = 32,
    patch_size: int = 8,
    embed_dims: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    mlp_ratio: float = 4.0,
    num_classes: int = 10,
) -> dict[str, Any]:
    """The config of a ViT; the defaults give a tiny one, ``vit_cfg(**VIT_L16)`` ViT-L/16."""
    return dict(
        type="VisionTransformer",
        img_size=img_size,
        patch_size=patch_size,
        embed_dims=embed_dims,
        num_layers=num_layers,
        num_heads=num_heads,
        mlp_ratio=mlp_ratio,
        num_classes=num_classes,
        init_cfg=copy.deepcopy(VIT_INIT),
    )


RETINANET_R50_FPN: dict[str, Any] = dict(
    depth=50, base_channels=64, neck_channels=256, num_classes=80, stacked_convs=4, num_anchors=9
)
"""``detector_cfg`` arguments for mmdet's ``retinanet_r50_fpn`` (about 38M parameters)."""

VIT_L16: dict[str, Any] = dict(
    img_size=224, patch_size=16, embed_dims=1024, num_layers=24, num_heads=16, mlp_ratio=4.0, num_classes=1000
)
"""``vit_cfg`` arguments for ViT-L/16 (about 304M parameters)."""

DETECTOR_CFG = detector_cfg()
VIT_CFG = vit_cfg()


def build_detector(**kwargs: Any) -> nn.Module:
    """Build ``detector_cfg(**kwargs)``; ``build_detector(**RETINANET_R50_FPN)`` is full size."""
    return build_model(detector_cfg(**kwargs))


def build_vit(**kwargs: Any) -> nn.Module:
    """Build ``vit_cfg(**kwargs)``; ``build_vit(**VIT_L16)`` is full size."""
    return build_model(vit_cfg(**kwargs))
