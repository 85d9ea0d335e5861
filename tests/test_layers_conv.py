"""build_conv_layer and CONV_LAYERS."""

from __future__ import annotations

import pytest
from torch import nn

from torchinit import (
    CONV_LAYERS,
    ConfigKeyError,
    ConfigTypeError,
    UnknownTypeError,
    build_conv_layer,
)

EXPECTED = {
    "Conv": nn.Conv2d,
    "Conv1d": nn.Conv1d,
    "Conv2d": nn.Conv2d,
    "Conv3d": nn.Conv3d,
    "deconv": nn.ConvTranspose2d,
    "ConvTranspose2d": nn.ConvTranspose2d,
    "deconv3d": nn.ConvTranspose3d,
    "ConvTranspose3d": nn.ConvTranspose3d,
}


@CONV_LAYERS.register_module()
class ScaledConv(nn.Conv2d):
    """A user's conv, registered the way the reference document registers MyUpsample."""

    def __init__(self, *args, scale: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scale = scale


def test_the_reference_example_builds_a_conv3d_with_the_given_channels_and_kernel() -> None:
    cfg = dict(type="Conv3d")
    layer = build_conv_layer(cfg, in_channels=3, out_channels=8, kernel_size=3)
    assert type(layer) is nn.Conv3d
    assert tuple(layer.weight.shape) == (8, 3, 3, 3, 3)


def test_the_registry_holds_exactly_the_documented_names_besides_the_tests_own() -> None:
    assert sorted(n for n, obj in CONV_LAYERS.module_dict.items() if obj is not ScaledConv) == sorted(
        EXPECTED
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_registered_name_builds_its_layer(name: str) -> None:
    layer = build_conv_layer(dict(type=name), 2, 4, 3)
    assert type(layer) is EXPECTED[name]
    assert (layer.in_channels, layer.out_channels) == (2, 4)


def test_conv_is_an_alias_of_conv2d() -> None:
    assert CONV_LAYERS.get("Conv") is nn.Conv2d


def test_deconv_builds_a_transposed_conv_with_mmcvs_arguments() -> None:
    layer = build_conv_layer(dict(type="deconv"), in_channels=4, out_channels=8, kernel_size=3, groups=2, dilation=2)
    assert type(layer) is nn.ConvTranspose2d
    assert (layer.in_channels, layer.out_channels, layer.groups, layer.dilation) == (4, 8, 2, (2, 2))
    assert tuple(layer.weight.shape) == (4, 4, 3, 3)  # (in, out / groups, k, k): mmcv's checkpoints load


def test_none_means_conv2d() -> None:
    assert type(build_conv_layer(None, 3, 8, 3)) is nn.Conv2d


def test_type_may_be_the_class_itself() -> None:
    assert type(build_conv_layer(dict(type=nn.Conv1d), 3, 8, 3)) is nn.Conv1d


def test_cfg_keys_and_caller_arguments_are_combined() -> None:
    layer = build_conv_layer(dict(type="Conv2d", stride=2, bias=False), 3, 8, 3, padding=1)
    assert layer.stride == (2, 2)
    assert layer.padding == (1, 1)
    assert layer.bias is None


def test_the_callers_cfg_is_not_modified() -> None:
    cfg = dict(type="Conv2d", stride=2)
    build_conv_layer(cfg, 3, 8, 3)
    assert cfg == dict(type="Conv2d", stride=2)


def test_a_registered_custom_conv_is_built_by_name() -> None:
    layer = build_conv_layer(dict(type="ScaledConv", scale=2.0), 3, 8, 3)
    assert type(layer) is ScaledConv
    assert layer.scale == 2.0


def test_a_cfg_that_is_not_a_dict_is_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="conv layer cfg must be a dict") as info:
        build_conv_layer("Conv2d", 3, 8, 3)
    assert isinstance(info.value, TypeError)


def test_a_cfg_without_type_is_a_key_error_listing_the_choices() -> None:
    with pytest.raises(ConfigKeyError, match="needs a 'type' key naming one of: Conv, Conv1d"):
        build_conv_layer(dict(stride=2), 3, 8, 3)


def test_an_unknown_type_names_the_registry_and_a_close_match() -> None:
    with pytest.raises(
        UnknownTypeError, match="'Conv2D' is not a registered conv layer. Did you mean 'Conv2d'"
    ) as info:
        build_conv_layer(dict(type="Conv2D"), 3, 8, 3)
    assert isinstance(info.value, KeyError)


def test_an_unexpected_argument_is_named_with_a_close_match() -> None:
    with pytest.raises(
        ConfigTypeError, match=r"unexpected argument\(s\) 'kernal_size'. Did you mean 'kernel_size'"
    ):
        build_conv_layer(dict(type="Conv2d"), in_channels=3, out_channels=8, kernal_size=3)


def test_a_missing_argument_is_named() -> None:
    with pytest.raises(ConfigTypeError, match="missing a required argument: 'kernel_size'"):
        build_conv_layer(dict(type="Conv2d"), in_channels=3, out_channels=8)


def test_an_argument_given_in_the_cfg_and_by_the_caller_is_named() -> None:
    with pytest.raises(ConfigTypeError, match="'stride' given both in the cfg"):
        build_conv_layer(dict(type="Conv2d", stride=2), 3, 8, 3, stride=1)


def test_an_argument_given_positionally_and_in_the_cfg_is_named() -> None:
    with pytest.raises(ConfigTypeError, match="multiple values for argument 'in_channels'"):
        build_conv_layer(dict(type="Conv2d", in_channels=3), 3, 8, 3)


def test_a_value_the_layer_rejects_is_a_value_error_naming_the_layer() -> None:
    with pytest.raises(ValueError, match="conv layer 'Conv2d'.*groups"):
        build_conv_layer(dict(type="Conv2d", groups=2), 3, 8, 3)
