"""build_padding_layer and PADDING_LAYERS."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from torchinit import PADDING_LAYERS, ConfigTypeError, UnknownTypeError, build_padding_layer

EXPECTED = {"zero": nn.ZeroPad2d, "reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d}
TORCH_MODE = {"zero": "constant", "reflect": "reflect", "replicate": "replicate"}


@PADDING_LAYERS.register_module(name="wrap")
class CircularPad(nn.Module):
    """A user's padding layer, registered the way the reference document registers MyUpsample."""

    def __init__(self, padding: int) -> None:
        super().__init__()
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (self.padding,) * 4, mode="circular")


def test_the_registry_holds_exactly_the_documented_names_besides_the_tests_own() -> None:
    assert sorted(n for n, obj in PADDING_LAYERS.module_dict.items() if obj is not CircularPad) == sorted(
        EXPECTED
    )


def test_a_registered_custom_padding_is_built_by_name() -> None:
    layer = build_padding_layer(dict(type="wrap"), 1)
    assert type(layer) is CircularPad
    assert layer(torch.zeros(1, 1, 3, 3)).shape == (1, 1, 5, 5)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_registered_name_builds_its_layer_and_pads_as_its_name_says(name: str) -> None:
    layer = build_padding_layer(dict(type=name), 2)
    assert type(layer) is EXPECTED[name]
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert torch.equal(layer(x), F.pad(x, (2, 2, 2, 2), mode=TORCH_MODE[name]))


def test_the_padding_may_come_from_the_cfg() -> None:
    assert build_padding_layer(dict(type="zero", padding=(1, 2, 3, 4))).padding == (1, 2, 3, 4)


def test_a_cfg_that_is_not_a_dict_is_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="padding layer cfg must be a dict"):
        build_padding_layer("reflect", 1)


def test_an_unknown_type_names_the_registry_and_a_close_match() -> None:
    with pytest.raises(
        UnknownTypeError, match="'reflection' is not a registered padding layer. Did you mean 'reflect'"
    ):
        build_padding_layer(dict(type="reflection"), 1)


def test_a_missing_padding_is_named() -> None:
    with pytest.raises(ConfigTypeError, match="missing a required argument: 'padding'"):
        build_padding_layer(dict(type="reflect"))
