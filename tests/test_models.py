"""MODELS and build_model: models built from config dicts, initialized by their init_cfg."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchinit import (
    MODELS,
    BaseModule,
    ConfigKeyError,
    ConfigTypeError,
    ConvModule,
    UnknownTypeError,
    build_model,
)


@MODELS.register_module()
class MyBackbone(BaseModule):
    def __init__(self, width: int = 8, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.stem = ConvModule(3, width, 3, norm_cfg=dict(type="BN"))
        self.body = nn.Sequential(nn.Conv2d(width, width, 3), nn.ReLU())


@MODELS.register_module()
class MyDetector(BaseModule):
    def __init__(self, backbone: dict, num_classes: int = 2, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.backbone = build_model(backbone)
        self.cls = nn.Linear(8, num_classes)


DETECTOR_CFG = dict(
    type="MyDetector",
    backbone=dict(type="MyBackbone", init_cfg=dict(type="Constant", layer="BatchNorm2d", val=2.0, bias=0.5)),
    init_cfg=[
        dict(type="Constant", layer="Conv2d", val=0.25, bias=0.0),
        dict(type="Constant", layer="Linear", val=0.125, bias=1.0),
    ],
)


def test_a_nested_config_builds_the_model_and_its_parts() -> None:
    model = build_model(DETECTOR_CFG)
    assert type(model) is MyDetector
    assert type(model.backbone) is MyBackbone
    assert model.init_cfg == DETECTOR_CFG["init_cfg"]


def test_init_weights_follows_the_config_of_every_part() -> None:
    model = build_model(DETECTOR_CFG)
    model.init_weights()
    assert torch.all(
        model.backbone.stem.conv.weight == 0.25
    )  # the detector's rule beats ConvModule's default
    assert torch.all(model.backbone.body[0].weight == 0.25) and torch.all(model.backbone.body[0].bias == 0.0)
    assert torch.all(model.backbone.stem.bn.weight == 2.0) and torch.all(model.backbone.stem.bn.bias == 0.5)
    assert torch.all(model.cls.weight == 0.125) and torch.all(model.cls.bias == 1.0)


def test_type_may_be_the_class_itself() -> None:
    model = build_model(dict(type=MyDetector, backbone=dict(type=MyBackbone, width=8)))
    assert type(model.backbone) is MyBackbone


def test_the_callers_cfg_is_not_modified() -> None:
    cfg = dict(type="MyDetector", backbone=dict(type="MyBackbone"), num_classes=3)
    build_model(cfg)
    assert cfg == dict(type="MyDetector", backbone=dict(type="MyBackbone"), num_classes=3)


def test_default_args_fill_in_what_the_cfg_leaves_out_and_the_cfg_wins() -> None:
    model = build_model(
        dict(type="MyDetector", backbone=dict(type="MyBackbone"), num_classes=3),
        default_args=dict(num_classes=5),
    )
    assert model.cls.out_features == 3
    model = build_model(dict(type="MyDetector"), default_args=dict(backbone=dict(type="MyBackbone")))
    assert type(model.backbone) is MyBackbone


def test_a_cfg_that_is_not_a_dict_is_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="model cfg must be a dict") as info:
        build_model(["MyDetector"])  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)


def test_a_cfg_without_type_is_a_key_error() -> None:
    with pytest.raises(ConfigKeyError, match="model cfg needs a 'type' key"):
        build_model(dict(backbone=dict(type="MyBackbone")))


def test_an_unknown_type_names_the_registry_and_a_close_match() -> None:
    with pytest.raises(
        UnknownTypeError, match="'MyDetecter' is not a registered model. Did you mean 'MyDetector'"
    ):
        build_model(dict(type="MyDetecter", backbone=dict(type="MyBackbone")))


def test_an_unknown_type_inside_a_part_is_reported_too() -> None:
    with pytest.raises(UnknownTypeError, match="'MyBackbon' is not a registered model"):
        build_model(dict(type="MyDetector", backbone=dict(type="MyBackbon")))


def test_an_unexpected_argument_is_named() -> None:
    with pytest.raises(
        ConfigTypeError, match=r"unexpected argument\(s\) 'num_class'. Did you mean 'num_classes'"
    ):
        build_model(dict(type="MyDetector", backbone=dict(type="MyBackbone"), num_class=3))


def test_a_missing_argument_is_named() -> None:
    with pytest.raises(ConfigTypeError, match="missing required argument\\(s\\) 'backbone'"):
        build_model(dict(type="MyDetector"))


def test_the_bricks_are_registered_in_models_as_in_mmcv_2() -> None:
    from torchinit.layers import PixelShufflePack

    assert MODELS.get("ConvModule") is ConvModule and MODELS.get("PixelShufflePack") is PixelShufflePack
    up = build_model(dict(type="pixel_shuffle", in_channels=2, out_channels=2, scale_factor=2, upsample_kernel=3))
    assert up(torch.zeros(1, 2, 3, 3)).shape == (1, 2, 6, 6)
