"""build_norm_layer, NORM_LAYERS and the attribute-name inference."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from torchinit import (
    NORM_LAYERS,
    ConfigKeyError,
    ConfigTypeError,
    ConfigValueError,
    UnknownTypeError,
    build_norm_layer,
)
from torchinit.layers import infer_abbr, is_norm

# type -> (class, abbreviation, extra cfg keys)
EXPECTED: dict[str, tuple[type[nn.Module], str, dict]] = {
    "BN": (nn.BatchNorm2d, "bn", {}),
    "BN1d": (nn.BatchNorm1d, "bn", {}),
    "BN2d": (nn.BatchNorm2d, "bn", {}),
    "BN3d": (nn.BatchNorm3d, "bn", {}),
    "SyncBN": (nn.SyncBatchNorm, "bn", {}),
    "GN": (nn.GroupNorm, "gn", {"num_groups": 2}),
    "LN": (nn.LayerNorm, "ln", {}),
    "IN": (nn.InstanceNorm2d, "in", {}),
    "IN1d": (nn.InstanceNorm1d, "in", {}),
    "IN2d": (nn.InstanceNorm2d, "in", {}),
    "IN3d": (nn.InstanceNorm3d, "in", {}),
}


@NORM_LAYERS.register_module()
class MyBatchStat(nn.Module):
    """A user's norm layer whose class name tells its abbreviation."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))


def test_the_registry_holds_exactly_the_documented_names_besides_the_tests_own() -> None:
    assert sorted(n for n, obj in NORM_LAYERS.module_dict.items() if obj is not MyBatchStat) == sorted(
        EXPECTED
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_registered_name_builds_its_layer_and_names_it_by_its_abbreviation(name: str) -> None:
    cls, abbr, extra = EXPECTED[name]
    layer_name, layer = build_norm_layer(dict(type=name, **extra), 4)
    assert type(layer) is cls
    assert layer_name == abbr


@pytest.mark.parametrize("name", ["BN", "BN1d", "BN2d", "BN3d", "SyncBN", "IN", "IN1d", "IN2d", "IN3d"])
def test_batch_and_instance_norms_get_num_features(name: str) -> None:
    assert build_norm_layer(dict(type=name), 6)[1].num_features == 6


def test_bn_and_in_are_aliases_of_their_2d_versions() -> None:
    assert NORM_LAYERS.get("BN") is nn.BatchNorm2d
    assert NORM_LAYERS.get("IN") is nn.InstanceNorm2d


def test_gn_gets_num_groups_from_the_cfg_and_num_channels_from_num_features() -> None:
    name, layer = build_norm_layer(dict(type="GN", num_groups=2), 8)
    assert (name, layer.num_groups, layer.num_channels) == ("gn", 2, 8)


def test_ln_normalizes_the_last_num_features_elements() -> None:
    assert build_norm_layer(dict(type="LN"), 5)[1].normalized_shape == (5,)


def test_cfg_arguments_reach_the_layer() -> None:
    layer = build_norm_layer(dict(type="BN", eps=1e-3, momentum=0.01, affine=False), 4)[1]
    assert (layer.eps, layer.momentum, layer.weight) == (1e-3, 0.01, None)


@pytest.mark.parametrize(("postfix", "expected"), [(1, "bn1"), ("_head", "bn_head"), ("", "bn")])
def test_postfix_is_appended_to_the_name(postfix: int | str, expected: str) -> None:
    assert build_norm_layer(dict(type="BN"), 4, postfix=postfix)[0] == expected


def test_parameters_are_trainable_by_default() -> None:
    layer = build_norm_layer(dict(type="BN"), 4)[1]
    assert all(p.requires_grad for p in layer.parameters())


def test_requires_grad_false_freezes_the_parameters() -> None:
    layer = build_norm_layer(dict(type="GN", num_groups=2, requires_grad=False), 4)[1]
    assert [p.requires_grad for p in layer.parameters()] == [False, False]


def test_the_callers_cfg_is_not_modified() -> None:
    cfg = dict(type="BN", requires_grad=False)
    build_norm_layer(cfg, 4)
    assert cfg == dict(type="BN", requires_grad=False)


def test_type_may_be_the_class_itself() -> None:
    name, layer = build_norm_layer(dict(type=nn.GroupNorm, num_groups=1), 4)
    assert (name, type(layer)) == ("gn", nn.GroupNorm)


def test_a_registered_custom_norm_is_built_and_named_from_its_class_name() -> None:
    name, layer = build_norm_layer(dict(type="MyBatchStat"), 3, postfix=2)
    assert (name, type(layer)) == ("bn2", MyBatchStat)


def test_infer_abbr_prefers_the_class_attribute_abbr() -> None:
    class FancyNorm(nn.BatchNorm2d):
        _abbr_ = "fn"

    assert infer_abbr(FancyNorm) == "fn"


def test_infer_abbr_follows_the_class_hierarchy_before_the_name() -> None:
    class Whatever(nn.GroupNorm):
        pass

    assert infer_abbr(Whatever) == "gn"
    assert infer_abbr(nn.SyncBatchNorm) == "bn"


@pytest.mark.parametrize(
    ("class_name", "abbr"),
    [
        ("MyBatchThing", "bn"),
        ("GroupWise", "gn"),
        ("LayerScaleNorm", "ln"),
        ("InstanceWhiten", "in"),
        ("RMSNorm", "norm_layer"),
    ],
)
def test_infer_abbr_falls_back_to_words_in_the_class_name_then_norm_layer(class_name: str, abbr: str) -> None:
    assert infer_abbr(type(class_name, (nn.Module,), {})) == abbr


def test_infer_abbr_rejects_an_instance() -> None:
    with pytest.raises(ConfigTypeError, match="class_type must be a class"):
        infer_abbr(nn.BatchNorm2d(2))


def test_a_cfg_that_is_not_a_dict_is_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="norm layer cfg must be a dict"):
        build_norm_layer(None, 4)


def test_a_cfg_without_type_is_a_key_error() -> None:
    with pytest.raises(ConfigKeyError, match="norm layer cfg needs a 'type' key"):
        build_norm_layer(dict(num_groups=2), 4)


def test_an_unknown_type_names_the_registry_and_a_close_match() -> None:
    with pytest.raises(UnknownTypeError, match="'bn' is not a registered norm layer. Did you mean 'BN'"):
        build_norm_layer(dict(type="bn"), 4)


def test_gn_without_num_groups_names_the_missing_argument() -> None:
    with pytest.raises(ConfigTypeError, match="norm layer 'GN'.*missing a required argument: 'num_groups'"):
        build_norm_layer(dict(type="GN"), 4)


def test_an_unexpected_argument_is_named() -> None:
    with pytest.raises(ConfigTypeError, match=r"unexpected argument\(s\) 'num_groups'"):
        build_norm_layer(dict(type="BN", num_groups=2), 4)


def test_channels_that_groups_do_not_divide_are_a_value_error() -> None:
    with pytest.raises(ConfigValueError, match="norm layer 'GN'"):
        build_norm_layer(dict(type="GN", num_groups=3), 4)


def test_a_requires_grad_that_is_not_a_bool_is_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="requires_grad in a norm cfg must be a bool"):
        build_norm_layer(dict(type="BN", requires_grad="no"), 4)


@pytest.mark.parametrize("postfix", [1.5, None, True])
def test_a_postfix_that_is_not_an_int_or_str_is_a_type_error(postfix: object) -> None:
    with pytest.raises(ConfigTypeError, match="postfix must be an int or a str"):
        build_norm_layer(dict(type="BN"), 4, postfix=postfix)  # type: ignore[arg-type]


class EpsNorm(nn.LayerNorm):
    """A registered norm whose own default eps is not 1e-5."""

    def __init__(self, num_features: int, eps: float = 1e-6) -> None:
        super().__init__(num_features, eps=eps)


class NoEpsNorm(nn.Module):
    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features


def test_a_norm_that_takes_eps_gets_mmcvs_1e_5_unless_the_cfg_sets_it() -> None:
    assert build_norm_layer(dict(type=EpsNorm), 4)[1].eps == 1e-5
    assert build_norm_layer(dict(type=EpsNorm, eps=1e-6), 4)[1].eps == 1e-6
    assert build_norm_layer(dict(type="GN", num_groups=2, eps=1e-3), 4)[1].eps == 1e-3


def test_a_norm_without_eps_is_built_without_it() -> None:
    assert build_norm_layer(dict(type=NoEpsNorm), 4)[1].num_features == 4


@pytest.mark.parametrize(
    "layer", [nn.BatchNorm1d(3), nn.SyncBatchNorm(3), nn.InstanceNorm2d(3), nn.GroupNorm(1, 3), nn.LayerNorm(3)]
)
def test_is_norm_recognizes_batch_instance_group_and_layer_norms(layer: nn.Module) -> None:
    assert is_norm(layer)
    assert not is_norm(layer, exclude=type(layer))


def test_is_norm_is_false_for_other_layers_and_for_excluded_bases() -> None:
    assert not is_norm(nn.Conv2d(3, 8, 1))
    assert not is_norm(EpsNorm(3), exclude=(nn.LayerNorm,))
    assert not is_norm(nn.BatchNorm2d(3), exclude=_BatchNorm)
    assert is_norm(nn.BatchNorm2d(3), exclude=())


@pytest.mark.parametrize("exclude", ["BN", ("BN",), [nn.BatchNorm2d]])
def test_is_norm_rejects_an_exclude_that_is_not_classes(exclude: object) -> None:
    with pytest.raises(ConfigTypeError, match="is_norm: exclude must be None, a class or a tuple of classes"):
        is_norm(nn.BatchNorm1d(3), exclude=exclude)  # type: ignore[arg-type]
