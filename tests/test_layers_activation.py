"""build_activation_layer, ACTIVATION_LAYERS and HSigmoid."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchinit import (
    ACTIVATION_LAYERS,
    ConfigTypeError,
    ConfigValueError,
    UnknownTypeError,
    build_activation_layer,
)
from torchinit.layers import Clamp, HSigmoid

EXPECTED: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "LeakyReLU": nn.LeakyReLU,
    "PReLU": nn.PReLU,
    "RReLU": nn.RReLU,
    "ReLU6": nn.ReLU6,
    "ELU": nn.ELU,
    "Sigmoid": nn.Sigmoid,
    "Tanh": nn.Tanh,
    "GELU": nn.GELU,
    "SiLU": nn.SiLU,
    "Swish": nn.SiLU,
    "HSigmoid": HSigmoid,
    "HSwish": nn.Hardswish,
    "Mish": nn.Mish,
    "Clamp": Clamp,
    "Clip": Clamp,
}

X = torch.linspace(-5, 5, 41)


@ACTIVATION_LAYERS.register_module()
class SquaredReLU(nn.Module):
    """A user's activation, registered the way the reference document registers MyUpsample."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) ** 2


def test_the_registry_holds_exactly_the_documented_names_besides_the_tests_own() -> None:
    assert sorted(n for n, obj in ACTIVATION_LAYERS.module_dict.items() if obj is not SquaredReLU) == sorted(
        EXPECTED
    )


def test_a_registered_custom_activation_is_built_by_name() -> None:
    assert torch.equal(build_activation_layer(dict(type="SquaredReLU"))(X), torch.relu(X) ** 2)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_registered_name_builds_its_layer(name: str) -> None:
    layer = build_activation_layer(dict(type=name))
    assert type(layer) is EXPECTED[name]
    assert layer(X).shape == X.shape


def test_cfg_arguments_reach_the_layer() -> None:
    layer = build_activation_layer(dict(type="LeakyReLU", negative_slope=0.2, inplace=True))
    assert (layer.negative_slope, layer.inplace) == (0.2, True)


def test_swish_is_silu() -> None:
    assert torch.allclose(build_activation_layer(dict(type="Swish"))(X), X * torch.sigmoid(X))


def test_hswish_is_x_times_relu6_of_x_plus_3_over_6() -> None:
    assert torch.allclose(build_activation_layer(dict(type="HSwish"))(X), X * torch.clamp(X + 3, 0, 6) / 6)


def test_hsigmoid_defaults_match_hardsigmoid() -> None:
    assert torch.allclose(HSigmoid()(X), nn.Hardsigmoid()(X))


def test_hsigmoid_takes_mmcvs_bias_divisor_and_bounds() -> None:
    layer = build_activation_layer(dict(type="HSigmoid", bias=1.0, divisor=2.0, min_value=0.1, max_value=0.9))
    assert torch.allclose(layer(X), ((X + 1) / 2).clamp(0.1, 0.9))


def test_hsigmoid_rejects_a_zero_divisor() -> None:
    with pytest.raises(ConfigValueError, match="divisor must not be 0"):
        build_activation_layer(dict(type="HSigmoid", divisor=0))


def test_clamp_bounds_every_value_to_minus_one_and_one_by_default() -> None:
    assert torch.equal(build_activation_layer(dict(type="Clamp"))(X), X.clamp(-1.0, 1.0))


@pytest.mark.parametrize(("cfg", "low", "high"), [(dict(type="Clip", min=0), 0.0, 1.0), (dict(type="Clamp", max=0), -1.0, 0.0)])
def test_clip_is_clamp_and_takes_mmcvs_min_and_max(cfg: dict, low: float, high: float) -> None:
    assert torch.equal(build_activation_layer(cfg)(X), X.clamp(low, high))


def test_clamp_rejects_a_min_above_the_max() -> None:
    with pytest.raises(ConfigValueError, match="Clamp: min must not exceed max, got min=2, max=1"):
        Clamp(min=2, max=1)


def test_type_may_be_the_class_itself() -> None:
    assert type(build_activation_layer(dict(type=nn.Softplus))) is nn.Softplus


def test_the_callers_cfg_is_not_modified() -> None:
    cfg = dict(type="ELU", alpha=0.5)
    build_activation_layer(cfg)
    assert cfg == dict(type="ELU", alpha=0.5)


def test_a_cfg_that_is_not_a_dict_is_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="activation layer cfg must be a dict"):
        build_activation_layer("ReLU")  # type: ignore[arg-type]


def test_an_unknown_type_names_the_registry_and_a_close_match() -> None:
    with pytest.raises(
        UnknownTypeError, match="'Relu' is not a registered activation layer. Did you mean 'ReLU'"
    ):
        build_activation_layer(dict(type="Relu"))


def test_an_unexpected_argument_is_named_with_what_the_layer_takes() -> None:
    with pytest.raises(
        ConfigTypeError,
        match=r"activation layer 'ReLU' got unexpected argument\(s\) 'negative_slope'. It takes: inplace",
    ):
        build_activation_layer(dict(type="ReLU", negative_slope=0.1))
