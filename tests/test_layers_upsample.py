"""build_upsample_layer, UPSAMPLE_LAYERS and PixelShufflePack."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from torchinit import UPSAMPLE_LAYERS, BaseModule, ConfigTypeError, UnknownTypeError, build_upsample_layer
from torchinit.layers import PixelShufflePack


# The reference document's extension example, as written there.
@UPSAMPLE_LAYERS.register_module()
class MyUpsample:
    def __init__(self, scale_factor):
        pass

    def forward(self, x):
        pass


EXPECTED = {"nearest", "bilinear", "deconv", "deconv3d", "pixel_shuffle"}


def test_the_reference_extension_example_builds_the_registered_class() -> None:
    cfg = dict(type="MyUpsample", scale_factor=2)
    layer = build_upsample_layer(cfg)
    assert isinstance(layer, MyUpsample)


def test_the_registry_holds_exactly_the_documented_names_besides_the_tests_own() -> None:
    assert {n for n, obj in UPSAMPLE_LAYERS.module_dict.items() if obj is not MyUpsample} == EXPECTED


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_nearest_and_bilinear_build_an_upsample_in_that_mode(mode: str) -> None:
    layer = build_upsample_layer(dict(type=mode, scale_factor=2))
    assert type(layer) is nn.Upsample
    assert layer.mode == mode
    assert layer(torch.zeros(1, 2, 3, 3)).shape == (1, 2, 6, 6)


def test_deconv_builds_a_transposed_conv() -> None:
    layer = build_upsample_layer(dict(type="deconv"), 4, 2, kernel_size=2, stride=2)
    assert type(layer) is nn.ConvTranspose2d
    assert layer(torch.zeros(1, 4, 3, 3)).shape == (1, 2, 6, 6)


def test_pixel_shuffle_builds_a_conv_then_a_pixel_shuffle() -> None:
    layer = build_upsample_layer(dict(type="pixel_shuffle", scale_factor=2, upsample_kernel=3), 4, 2)
    assert type(layer) is PixelShufflePack
    assert tuple(layer.upsample_conv.weight.shape) == (8, 4, 3, 3)
    assert layer(torch.zeros(1, 4, 5, 5)).shape == (1, 2, 10, 10)


def assert_xavier_uniform_with_zero_bias(layer: PixelShufflePack) -> None:
    fan_in, fan_out = 16 * 9, 64 * 9
    bound = math.sqrt(6 / (fan_in + fan_out))
    weight = layer.upsample_conv.weight
    assert weight.abs().max() <= bound
    # torch's own init (kaiming uniform, a=sqrt(5)) has std 1/sqrt(3 fan_in) = 0.048, Xavier 0.053
    assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert torch.equal(layer.upsample_conv.bias, torch.zeros(64))


def test_pixel_shuffle_is_xavier_uniform_with_zero_bias_right_after_construction() -> None:
    torch.manual_seed(0)
    assert_xavier_uniform_with_zero_bias(PixelShufflePack(16, 16, scale_factor=2, upsample_kernel=3))


def test_pixel_shuffle_defaults_to_xavier_uniform_with_zero_bias_in_init_weights() -> None:
    layer = PixelShufflePack(16, 16, scale_factor=2, upsample_kernel=3)
    torch.nn.init.constant_(layer.upsample_conv.weight, 5.0)
    layer.init_weights()
    assert_xavier_uniform_with_zero_bias(layer)


def test_pixel_shuffle_can_be_built_on_the_meta_device() -> None:
    with torch.device("meta"):
        layer = PixelShufflePack(16, 16, scale_factor=2, upsample_kernel=3)
    assert layer.upsample_conv.weight.is_meta


def test_a_parents_rule_beats_the_pixel_shuffle_default() -> None:
    class Net(BaseModule):
        def __init__(self) -> None:
            super().__init__(dict(type="Constant", layer="Conv2d", val=0.5, bias=0.25))
            self.up = PixelShufflePack(2, 2, scale_factor=2, upsample_kernel=1)

    net = Net()
    net.init_weights()
    assert torch.all(net.up.upsample_conv.weight == 0.5)
    assert torch.all(net.up.upsample_conv.bias == 0.25)


def test_the_callers_cfg_is_not_modified() -> None:
    cfg = dict(type="nearest", scale_factor=2)
    build_upsample_layer(cfg)
    assert cfg == dict(type="nearest", scale_factor=2)


def test_deconv3d_builds_a_3d_transposed_conv() -> None:
    layer = build_upsample_layer(dict(type="deconv3d"), 4, 2, kernel_size=2, stride=2)
    assert type(layer) is nn.ConvTranspose3d
    assert layer(torch.zeros(1, 4, 2, 3, 3)).shape == (1, 2, 4, 6, 6)


def test_a_mode_that_repeats_the_type_is_accepted() -> None:
    layer = build_upsample_layer(dict(type="bilinear", scale_factor=2, mode="bilinear", align_corners=False))
    assert (layer.mode, layer.align_corners) == ("bilinear", False)


def test_a_mode_that_contradicts_the_type_is_rejected() -> None:
    with pytest.raises(ConfigTypeError, match="upsample layer 'nearest' sets mode='nearest' itself"):
        build_upsample_layer(dict(type="nearest", scale_factor=2, mode="bilinear"))


def test_a_cfg_that_is_not_a_dict_is_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="upsample layer cfg must be a dict"):
        build_upsample_layer(None)


def test_an_unknown_type_names_the_registry_and_a_close_match() -> None:
    with pytest.raises(
        UnknownTypeError,
        match="'pixelshuffle' is not a registered upsample layer. Did you mean 'pixel_shuffle'",
    ):
        build_upsample_layer(dict(type="pixelshuffle"))


def test_a_missing_argument_is_named() -> None:
    with pytest.raises(ConfigTypeError, match="missing a required argument: 'upsample_kernel'"):
        build_upsample_layer(dict(type="pixel_shuffle", scale_factor=2), 4, 2)
