"""The example models: they build from their configs, run, and initialize as configured."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from torchinit import MODELS, ConvModule, bias_init_with_prob

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # examples/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from examples.models import (  # noqa: E402
    DETECTOR_CFG,
    RETINANET_R50_FPN,
    VIT_CFG,
    VIT_L16,
    build_detector,
    build_vit,
    detector_cfg,
)


def test_the_example_classes_are_registered_models() -> None:
    for name in ("ResNet", "FPN", "RetinaHead", "RetinaNet", "VisionTransformer"):
        assert name in MODELS


def test_the_detector_config_is_plain_data_with_an_init_cfg_per_part() -> None:
    assert DETECTOR_CFG["type"] == "RetinaNet"
    assert [DETECTOR_CFG[k]["init_cfg"] for k in ("backbone", "neck", "bbox_head")] == [
        [dict(type="Kaiming", layer="Conv2d"), dict(type="Constant", val=1, layer="_BatchNorm")],
        dict(type="Xavier", layer="Conv2d", distribution="uniform"),
        dict(
            type="Normal",
            layer="Conv2d",
            std=0.01,
            override=dict(type="Normal", name="retina_cls", std=0.01, bias_prob=0.01),
        ),
    ]


def test_the_small_detector_predicts_scores_and_boxes_on_five_levels() -> None:
    model = build_detector(num_classes=4, num_anchors=9).eval()
    cls_scores, bbox_preds = model(torch.zeros(1, 3, 64, 64))
    assert [tuple(s.shape) for s in cls_scores] == [
        (1, 36, 8, 8),
        (1, 36, 4, 4),
        (1, 36, 2, 2),
        (1, 36, 1, 1),
        (1, 36, 1, 1),
    ]
    assert [tuple(b.shape[2:]) for b in bbox_preds] == [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    assert all(b.shape[1] == 36 for b in bbox_preds)


def test_the_detector_initializes_each_part_by_its_own_rules() -> None:
    model = build_detector(base_channels=32, neck_channels=64, stacked_convs=2)
    model.init_weights()
    backbone, neck, head = model.backbone, model.neck, model.bbox_head

    conv = backbone.layer4[0].conv2  # Kaiming, fan_out, relu
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (conv.out_channels * 9)), rel=0.05)
    assert all(
        torch.all(m.weight == 1) and torch.all(m.bias == 0)
        for m in backbone.modules()
        if isinstance(m, nn.BatchNorm2d)
    )

    for cm in [*neck.lateral_convs, *neck.fpn_convs]:  # Xavier uniform beats ConvModule's default
        fan_in, fan_out = cm.conv.weight[0].numel(), cm.conv.weight[:, 0].numel()
        assert cm.conv.weight.abs().max().item() <= math.sqrt(6 / (fan_in + fan_out))
        assert torch.all(cm.conv.bias == 0)

    head_convs = [cm.conv for cm in [*head.cls_convs, *head.reg_convs]] + [head.retina_reg]
    stds = torch.cat([c.weight.flatten() for c in head_convs]).std().item()
    assert stds == pytest.approx(0.01, rel=0.05)
    assert all(torch.all(c.bias == 0) for c in head_convs)
    assert head.retina_cls.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.allclose(
        head.retina_cls.bias, torch.full_like(head.retina_cls.bias, bias_init_with_prob(0.01))
    )


def test_the_detector_takes_group_norm_and_initializes_it() -> None:
    model = build_detector(norm_cfg=dict(type="GN", num_groups=4))
    model.init_weights()
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.GroupNorm)]
    assert norms and all(torch.all(m.weight == 1) for m in norms)
    assert model.backbone.gn1 is norms[0]  # the stem's norm is named after its type


def test_the_fpn_and_head_are_built_from_convmodules() -> None:
    model = build_detector()
    assert all(
        isinstance(m, ConvModule)
        for m in [*model.neck.lateral_convs, *model.neck.fpn_convs, *model.bbox_head.cls_convs]
    )


def test_the_small_vit_classifies_and_initializes_as_configured() -> None:
    model = build_vit(embed_dims=128, num_layers=2, num_classes=10)
    model.init_weights()
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)
    assert weights.abs().max().item() <= 2.0
    assert all(torch.all(m.bias == 0) for m in linears)
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == 5 and all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in norms)
    assert model.pos_embed.std().item() == pytest.approx(0.02, rel=0.1)


def test_the_vit_config_names_truncnormal_for_linear_and_constant_for_layernorm() -> None:
    assert dict(type="TruncNormal", layer="Linear", std=0.02, bias=0) in VIT_CFG["init_cfg"]
    assert dict(type="Constant", layer="LayerNorm", val=1, bias=0) in VIT_CFG["init_cfg"]


def test_the_full_size_configs_have_the_published_parameter_counts() -> None:
    with torch.device("meta"):
        detector = build_detector(**RETINANET_R50_FPN)
        vit = build_vit(**VIT_L16)
    assert sum(p.numel() for p in detector.parameters()) == pytest.approx(38e6, rel=0.02)
    assert sum(p.numel() for p in vit.parameters()) == pytest.approx(304e6, rel=0.01)


def test_a_bottleneck_resnet_feeds_the_fpn_its_widened_channels() -> None:
    cfg = detector_cfg(depth=50, base_channels=8)
    assert cfg["neck"]["in_channels"] == [32, 64, 128, 256]
    model = build_detector(depth=50, base_channels=8)
    assert len(model(torch.zeros(1, 3, 64, 64))[0]) == 5
