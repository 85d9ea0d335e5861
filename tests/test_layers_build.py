"""How every layer builder finds a ``type``: its own table, then torchinit.MODELS and its fallbacks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from torchinit import (
    CONV_LAYERS,
    MODELS,
    ConvModule,
    UnknownTypeError,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    build_padding_layer,
    build_upsample_layer,
)


@MODELS.register_module(name="SACLike")
class SACLike(nn.Conv2d):
    """A conv registered only in MODELS, as mmdet registers SAC, DCNv2 and Conv2dAdaptivePadding."""


@MODELS.register_module(name="FrozenStatNorm")
class FrozenStatNorm(nn.BatchNorm2d):
    """A norm registered only in MODELS."""


@MODELS.register_module(name="Conv2d")
class NotTheConv(nn.Conv2d):
    """MODELS may hold a name the builder's own table also holds; the table wins."""


class ForeignActivation(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ForeignPad(nn.ZeroPad2d):
    pass


FOREIGN = {"ForeignActivation": ForeignActivation, "ForeignPad": ForeignPad, "ForeignDeconv": nn.ConvTranspose2d}


@pytest.fixture
def foreign_registry() -> Iterator[None]:
    """Another registry (mmengine's MODELS, say) bridged in the way the adoption layer does."""
    remove = MODELS.add_fallback(FOREIGN.get)
    try:
        yield
    finally:
        remove()


def test_a_conv_registered_only_in_models_is_built_by_build_conv_layer() -> None:
    layer = build_conv_layer(dict(type="SACLike"), 3, 8, 3)
    assert type(layer) is SACLike


def test_a_convmodule_finds_a_conv_registered_only_in_models() -> None:
    assert type(ConvModule(3, 8, 3, conv_cfg=dict(type="SACLike")).conv) is SACLike


def test_a_norm_registered_only_in_models_is_built_and_named_by_build_norm_layer() -> None:
    name, layer = build_norm_layer(dict(type="FrozenStatNorm"), 4)
    assert (name, type(layer)) == ("bn", FrozenStatNorm)


def test_the_builders_own_table_wins_over_models_for_the_same_name() -> None:
    assert CONV_LAYERS.get("Conv2d") is nn.Conv2d
    assert type(build_conv_layer(dict(type="Conv2d"), 3, 8, 3)) is nn.Conv2d


def test_a_fallback_added_to_models_reaches_every_builder(foreign_registry: None) -> None:
    assert type(build_activation_layer(dict(type="ForeignActivation"))) is ForeignActivation
    assert type(build_padding_layer(dict(type="ForeignPad"), 1)) is ForeignPad
    assert type(build_upsample_layer(dict(type="ForeignDeconv"), 3, 3, 2)) is nn.ConvTranspose2d
    assert isinstance(ConvModule(3, 8, 3, padding=1, padding_mode="ForeignPad").padding_layer, ForeignPad)


def test_removing_the_fallback_makes_its_names_unknown_again() -> None:
    remove = MODELS.add_fallback(FOREIGN.get)
    build_activation_layer(dict(type="ForeignActivation"))
    remove()
    with pytest.raises(UnknownTypeError):
        build_activation_layer(dict(type="ForeignActivation"))


def test_an_unknown_name_says_models_was_searched_too_and_is_a_key_error() -> None:
    with pytest.raises(UnknownTypeError, match="'FancyConv' is not a registered conv layer") as info:
        build_conv_layer(dict(type="FancyConv"), 3, 8, 3)
    assert "It is not in torchinit.MODELS either." in str(info.value)
    assert isinstance(info.value, KeyError)


def test_a_scoped_name_finds_the_entry_in_models() -> None:
    assert type(build_conv_layer(dict(type="mmdet.SACLike"), 3, 8, 3)) is SACLike
