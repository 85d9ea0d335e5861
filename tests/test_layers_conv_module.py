"""ConvModule: structure, forward, validation, its default init and who beats it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from torchinit import MODELS, BaseModule, ConfigTypeError, ConfigValueError, ConvModule, UnknownTypeError, build_model

X = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))


def children(m: nn.Module) -> list[tuple[str, type]]:
    return [(name, type(child)) for name, child in m.named_children()]


def kaiming_std(fan_out: int, slope: float = 0.0) -> float:
    return math.sqrt(2.0 / (1 + slope**2)) / math.sqrt(fan_out)


# --------------------------------------------------------------------------- reference examples
def test_reference_conv_bn_relu() -> None:
    conv = ConvModule(3, 8, 2, norm_cfg=dict(type="BN"))
    assert children(conv) == [("conv", nn.Conv2d), ("bn", nn.BatchNorm2d), ("activate", nn.ReLU)]
    assert conv.order == ("conv", "norm", "act")
    assert tuple(conv.conv.weight.shape) == (8, 3, 2, 2)
    assert conv.conv.bias is None
    assert conv.norm is conv.bn and conv.bn.num_features == 8
    assert torch.equal(conv(X), torch.relu(conv.bn(conv.conv(X))))
    assert conv(X).shape == (2, 8, 5, 5)


def test_reference_conv_gn_relu() -> None:
    conv = ConvModule(3, 8, 2, norm_cfg=dict(type="GN", num_groups=2))
    assert children(conv) == [("conv", nn.Conv2d), ("gn", nn.GroupNorm), ("activate", nn.ReLU)]
    assert (conv.gn.num_groups, conv.gn.num_channels) == (2, 8)
    assert conv.conv.bias is None
    assert torch.equal(conv(X), torch.relu(conv.gn(conv.conv(X))))


def test_reference_conv_relu() -> None:
    conv = ConvModule(3, 8, 2)
    assert children(conv) == [("conv", nn.Conv2d), ("activate", nn.ReLU)]
    assert conv.norm is None
    assert tuple(conv.conv.bias.shape) == (8,)
    assert torch.equal(conv(X), torch.relu(conv.conv(X)))


def test_reference_conv_only() -> None:
    conv = ConvModule(3, 8, 2, act_cfg=None)
    assert children(conv) == [("conv", nn.Conv2d)]
    assert conv.conv.bias is not None
    assert torch.equal(conv(X), conv.conv(X))


def test_reference_conv_leaky_relu() -> None:
    conv = ConvModule(3, 8, 3, padding=1, act_cfg=dict(type="LeakyReLU"))
    assert children(conv) == [("conv", nn.Conv2d), ("activate", nn.LeakyReLU)]
    assert conv.activate.negative_slope == 0.01
    assert conv(X).shape == (2, 8, 6, 6)
    assert torch.allclose(conv(X), nn.functional.leaky_relu(conv.conv(X), 0.01))


def test_reference_bn_conv_relu() -> None:
    conv = ConvModule(3, 8, 2, norm_cfg=dict(type="BN"), order=("norm", "conv", "act"))
    assert conv.order == ("norm", "conv", "act")
    assert conv.bn.num_features == 3  # the norm runs on the input
    assert conv.conv.bias is None
    assert torch.equal(conv(X), torch.relu(conv.conv(conv.bn(X))))


@pytest.mark.parametrize(
    ("kwargs", "norm_name"),
    [
        (dict(norm_cfg=dict(type="BN")), "bn"),
        (dict(norm_cfg=dict(type="GN", num_groups=2)), "gn"),
        (dict(), None),
        (dict(act_cfg=None), None),
        (dict(padding=1, act_cfg=dict(type="LeakyReLU")), None),
        (dict(norm_cfg=dict(type="BN"), order=("norm", "conv", "act")), "bn"),
    ],
)
def test_reference_examples_initialize_conv_by_kaiming_and_norm_to_one_and_zero(
    kwargs: dict, norm_name: str | None
) -> None:
    kernel = 3 if "padding" in kwargs else 2
    conv = ConvModule(3, 8, kernel, **kwargs)
    report = conv.init_weights()
    record = report.params["conv.weight"]
    assert record.source == "default"
    assert "Kaiming" in record.initializer
    assert ("leaky_relu" in record.initializer) == ("act_cfg" in kwargs and kwargs["act_cfg"] is not None)
    if conv.conv.bias is not None:
        assert torch.equal(conv.conv.bias, torch.zeros(8))
    if norm_name is not None:
        norm = getattr(conv, norm_name)
        assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


# --------------------------------------------------------------------------- structure
def test_auto_bias_means_a_bias_only_without_norm() -> None:
    assert ConvModule(3, 8, 1).with_bias is True
    assert ConvModule(3, 8, 1, norm_cfg=dict(type="GN", num_groups=2)).with_bias is False


def test_an_explicit_bias_is_kept_and_warned_about_before_batch_norm_in_mmcvs_words_first() -> None:
    with pytest.warns(UserWarning, match="^Unnecessary conv bias before batch/instance norm: .*bias='auto'"):
        conv = ConvModule(3, 8, 1, bias=True, norm_cfg=dict(type="BN"))
    assert conv.conv.bias is not None


def test_an_explicit_bias_before_group_norm_is_not_warned_about() -> None:
    assert ConvModule(3, 8, 1, bias=True, norm_cfg=dict(type="GN", num_groups=2)).conv.bias is not None


def test_bias_false_without_norm_drops_the_bias() -> None:
    assert ConvModule(3, 8, 1, bias=False).conv.bias is None


def test_the_conv_attributes_are_exported() -> None:
    conv = ConvModule(4, 8, 3, stride=2, padding=1, dilation=1, groups=2)
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (4, 8, (3, 3), (2, 2))
    assert (conv.padding, conv.dilation, conv.groups, conv.transposed) == (1, (1, 1), 2, False)


def test_conv_cfg_chooses_the_conv() -> None:
    conv = ConvModule(3, 8, 3, conv_cfg=dict(type="Conv1d"), norm_cfg=dict(type="BN1d"))
    assert children(conv) == [("conv", nn.Conv1d), ("bn", nn.BatchNorm1d), ("activate", nn.ReLU)]
    assert conv(torch.zeros(2, 3, 7)).shape == (2, 8, 5)


def test_activations_that_take_inplace_get_it() -> None:
    assert ConvModule(3, 8, 1).activate.inplace is True
    assert ConvModule(3, 8, 1, inplace=False).activate.inplace is False
    assert ConvModule(3, 8, 1, act_cfg=dict(type="ReLU", inplace=False)).activate.inplace is False


@pytest.mark.parametrize("act", ["Tanh", "GELU", "PReLU", "Sigmoid", "HSigmoid", "Swish"])
def test_activations_without_inplace_are_built_without_it(act: str) -> None:
    conv = ConvModule(3, 8, 1, act_cfg=dict(type=act))
    assert conv(X).shape == (2, 8, 6, 6)


def test_the_callers_cfgs_are_not_modified() -> None:
    act_cfg, norm_cfg = dict(type="ReLU"), dict(type="BN", requires_grad=False)
    ConvModule(3, 8, 1, act_cfg=act_cfg, norm_cfg=norm_cfg)
    assert (act_cfg, norm_cfg) == (dict(type="ReLU"), dict(type="BN", requires_grad=False))


def test_forward_can_skip_the_activation_and_the_norm() -> None:
    conv = ConvModule(3, 8, 1, norm_cfg=dict(type="BN"))
    assert torch.equal(conv(X, activate=False), conv.bn(conv.conv(X)))
    assert torch.equal(conv(X, norm=False), torch.relu(conv.conv(X)))


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_padding_modes_the_conv_leaves_to_a_padding_layer_match_torchs_padded_conv(mode: str) -> None:
    conv = ConvModule(3, 8, 3, padding=1, padding_mode=mode, act_cfg=None)
    assert [name for name, _ in conv.named_children()] == ["padding_layer", "conv"]
    assert conv.conv.padding == (0, 0)
    reference = nn.Conv2d(3, 8, 3, padding=1, padding_mode=mode)
    reference.load_state_dict(conv.conv.state_dict())
    assert torch.allclose(conv(X), reference(X), atol=1e-6)


def test_circular_padding_is_done_by_the_conv() -> None:
    conv = ConvModule(3, 8, 3, padding=1, padding_mode="circular", act_cfg=None)
    assert not hasattr(conv, "padding_layer")
    assert conv.conv.padding_mode == "circular"


def test_spectral_norm_wraps_the_conv() -> None:
    conv = ConvModule(3, 8, 3, with_spectral_norm=True)
    assert hasattr(conv.conv, "weight_orig")
    assert conv(X).shape == (2, 8, 4, 4)


# --------------------------------------------------------------------------- bad arguments
def test_an_unknown_padding_mode_is_a_key_error_listing_the_choices() -> None:
    with pytest.raises(UnknownTypeError, match="padding_mode must be one of 'zeros', 'circular', 'reflect'") as info:
        ConvModule(3, 8, 3, padding_mode="mirror")
    assert isinstance(info.value, KeyError)


@pytest.mark.parametrize(
    "order", [("conv", "norm"), ("conv", "conv", "act"), "conv,norm,act", ("conv", "bn", "act")]
)
def test_an_order_that_is_not_conv_norm_act_once_each_is_rejected(order: object) -> None:
    with pytest.raises(ConfigValueError, match="order must hold 'conv', 'norm' and 'act' once each"):
        ConvModule(3, 8, 3, order=order)  # type: ignore[arg-type]


@pytest.mark.parametrize("argument", ["conv_cfg", "norm_cfg", "act_cfg"])
def test_a_layer_cfg_that_is_not_a_dict_is_a_type_error_naming_it(argument: str) -> None:
    with pytest.raises(ConfigTypeError, match=f"ConvModule: {argument} must be a dict or None"):
        ConvModule(3, 8, 3, **{argument: "BN"})


def test_a_bias_that_is_not_bool_or_auto_is_a_type_error() -> None:
    with pytest.raises(ConfigTypeError, match="bias must be True, False or 'auto'"):
        ConvModule(3, 8, 3, bias="yes")


def test_an_unknown_norm_type_names_the_registry() -> None:
    with pytest.raises(UnknownTypeError, match="'BatchNorm' is not a registered norm layer"):
        ConvModule(3, 8, 3, norm_cfg=dict(type="BatchNorm"))


# --------------------------------------------------------------------------- default init
def test_the_default_is_kaiming_fan_out_relu_for_conv_and_one_zero_for_the_norm() -> None:
    conv = ConvModule(3, 8, 3, norm_cfg=dict(type="BN"))
    assert conv.default_init_cfg() == [
        dict(
            type="Kaiming",
            a=0.0,
            mode="fan_out",
            nonlinearity="relu",
            distribution="normal",
            bias=0,
            override=dict(name="conv"),
        ),
        dict(type="Constant", val=1, bias=0, override=dict(name="bn")),
    ]


@pytest.mark.parametrize(
    ("act_cfg", "slope"), [(dict(type="LeakyReLU"), 0.01), (dict(type="LeakyReLU", negative_slope=0.2), 0.2)]
)
def test_the_default_uses_leaky_relu_with_the_activations_slope(act_cfg: dict, slope: float) -> None:
    (rule,) = ConvModule(3, 8, 3, act_cfg=act_cfg).default_init_cfg()
    assert (rule["nonlinearity"], rule["a"]) == ("leaky_relu", pytest.approx(slope))


def test_the_default_leaves_out_a_norm_without_parameters() -> None:
    rules = ConvModule(3, 8, 3, norm_cfg=dict(type="IN")).default_init_cfg()
    assert [r["override"]["name"] for r in rules] == ["conv"]


class SelfInitConv(nn.Conv2d):
    """A conv that initializes itself."""

    def init_weights(self) -> None:
        nn.init.constant_(self.weight, 7.0)


def test_a_conv_with_its_own_init_weights_keeps_it() -> None:
    conv = ConvModule(3, 8, 3, conv_cfg=dict(type=SelfInitConv), norm_cfg=dict(type="BN"))
    assert [r["override"]["name"] for r in conv.default_init_cfg()] == ["bn"]
    conv.init_weights()
    assert torch.all(conv.conv.weight == 7.0)
    assert torch.all(conv.bn.weight == 1.0)


def test_init_weights_draws_the_conv_from_kaiming_normal_fan_out() -> None:
    conv = ConvModule(64, 128, 3, norm_cfg=dict(type="BN"))
    conv.init_weights()
    weight = conv.conv.weight
    assert weight.mean().item() == pytest.approx(0.0, abs=0.002)
    assert weight.std().item() == pytest.approx(kaiming_std(128 * 9), rel=0.02)
    assert torch.all(conv.bn.weight == 1.0) and torch.all(conv.bn.bias == 0.0)


def test_init_weights_uses_the_leaky_relu_gain_for_a_leaky_relu() -> None:
    conv = ConvModule(64, 128, 3, act_cfg=dict(type="LeakyReLU", negative_slope=0.5))
    conv.init_weights()
    assert conv.conv.weight.std().item() == pytest.approx(kaiming_std(128 * 9, 0.5), rel=0.02)
    assert torch.all(conv.conv.bias == 0.0)


# --------------------------------------------------------------------------- at construction
def test_a_new_convmodule_is_already_kaiming_fan_out_with_zero_bias_as_in_mmcv() -> None:
    torch.manual_seed(0)
    conv = ConvModule(64, 128, 3)
    # torch's own init (kaiming uniform, a=sqrt(5)) would give std 1/sqrt(3 fan_in) = 0.024, not 0.042
    assert conv.conv.weight.std().item() == pytest.approx(kaiming_std(128 * 9), rel=0.02)
    assert torch.all(conv.conv.bias == 0.0)


def test_a_new_convmodule_has_its_norm_at_one_and_zero() -> None:
    conv = ConvModule(3, 8, 3, norm_cfg=dict(type="GN", num_groups=2))
    assert torch.all(conv.gn.weight == 1.0) and torch.all(conv.gn.bias == 0.0)


def test_a_new_convmodule_uses_the_leaky_relu_gain_of_its_activation() -> None:
    torch.manual_seed(0)
    conv = ConvModule(64, 128, 3, act_cfg=dict(type="LeakyReLU", negative_slope=0.5))
    assert conv.conv.weight.std().item() == pytest.approx(kaiming_std(128 * 9, 0.5), rel=0.02)


class ConstantDefault(ConvModule):
    def default_init_cfg(self) -> list[dict]:
        return [dict(type="Constant", val=0.5, bias=0.25, override=dict(name="conv"))]


def test_construction_applies_the_rules_default_init_cfg_returns() -> None:
    conv = ConstantDefault(3, 8, 3)
    assert torch.all(conv.conv.weight == 0.5) and torch.all(conv.conv.bias == 0.25)


def test_a_conv_with_its_own_init_weights_is_left_as_it_built_itself() -> None:
    torch.manual_seed(3)
    expected = SelfInitConv(3, 8, 3, bias=False).weight.detach().clone()
    torch.manual_seed(3)
    conv = ConvModule(3, 8, 3, conv_cfg=dict(type=SelfInitConv), norm_cfg=dict(type="BN"))
    assert torch.equal(conv.conv.weight, expected)


def test_a_convmodule_can_be_built_on_the_meta_device() -> None:
    with torch.device("meta"):
        conv = ConvModule(3, 8, 3, norm_cfg=dict(type="BN"))
    assert conv.conv.weight.is_meta and conv.bn.weight.is_meta


def test_a_parents_rule_still_beats_the_default_after_construction() -> None:
    parent = Parent(init_cfg=dict(type="Constant", layer="Conv2d", val=0.5, bias=0.0))
    parent.init_weights()
    assert torch.all(parent.cm.conv.weight == 0.5)
    assert torch.all(parent.cm.bn.weight == 1.0)


# --------------------------------------------------------------------------- mmcv 2.x extras
def test_convmodule_is_registered_in_models_and_abbreviated_conv_block() -> None:
    built = build_model(dict(type="ConvModule", in_channels=3, out_channels=8, kernel_size=3))
    assert type(built) is ConvModule and MODELS.get("ConvModule") is ConvModule
    assert ConvModule._abbr_ == "conv_block"


def bn_eval_pair(**kwargs: object) -> tuple[ConvModule, ConvModule]:
    """Two equal ConvModules with non-trivial running stats, in eval mode: folded and plain."""
    folded = ConvModule(3, 8, 3, norm_cfg=dict(type="BN"), efficient_conv_bn_eval=True, **kwargs)
    with torch.no_grad():
        folded.bn.running_mean.uniform_(-1, 1)
        folded.bn.running_var.uniform_(0.5, 2)
        folded.bn.weight.uniform_(0.5, 2)
        folded.bn.bias.uniform_(-1, 1)
    plain = ConvModule(3, 8, 3, norm_cfg=dict(type="BN"), **kwargs)
    plain.load_state_dict(folded.state_dict())
    return folded.eval(), plain.eval()


def test_efficient_conv_bn_eval_gives_the_plain_output_in_eval_mode() -> None:
    folded, plain = bn_eval_pair()
    assert folded.efficient_conv_bn_eval_forward is not None and plain.efficient_conv_bn_eval_forward is None
    assert torch.allclose(folded(X), plain(X), atol=1e-5)
    assert not torch.allclose(folded(X), torch.relu(folded.conv(X)), atol=1e-3)  # the norm did act


def test_efficient_conv_bn_eval_sends_gradients_to_the_conv_and_the_norm() -> None:
    folded, _ = bn_eval_pair()
    folded(X).sum().backward()
    assert folded.conv.weight.grad is not None and folded.bn.weight.grad is not None
    assert folded.bn.bias.grad is not None


def test_efficient_conv_bn_eval_uses_a_conv_replaced_after_construction() -> None:
    folded, _ = bn_eval_pair()
    folded.conv = nn.Conv2d(3, 8, 3).eval()
    assert torch.allclose(folded(X), torch.relu(folded.bn(folded.conv(X))), atol=1e-5)


def test_efficient_conv_bn_eval_runs_the_convs_hooks_and_restores_its_forward() -> None:
    folded, plain = bn_eval_pair(with_spectral_norm=True)
    assert torch.allclose(folded(X), plain(X), atol=1e-5)
    assert "forward" not in vars(folded.conv)


def test_efficient_conv_bn_eval_is_off_in_training_mode_and_with_norm_false() -> None:
    folded, plain = bn_eval_pair()
    assert torch.allclose(folded(X, norm=False), plain(X, norm=False), atol=1e-6)
    folded.train(), plain.train()
    assert torch.allclose(folded(X), plain(X), atol=1e-5)


def test_efficient_conv_bn_eval_stays_off_without_a_batch_norm() -> None:
    conv = ConvModule(3, 8, 3, norm_cfg=dict(type="GN", num_groups=2), efficient_conv_bn_eval=True)
    assert conv.efficient_conv_bn_eval_forward is None


def test_create_from_conv_bn_wraps_the_given_modules_without_touching_them() -> None:
    conv, bn = nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)
    weight = conv.weight.detach().clone()
    module = ConvModule.create_from_conv_bn(conv, bn)
    assert module.conv is conv and module.bn is bn and module.norm is bn
    assert torch.equal(conv.weight, weight)
    assert [name for name, _ in module.named_children()] == ["conv", "bn"]
    assert torch.allclose(module.eval()(X), bn.eval()(conv(X)), atol=1e-5)


# --------------------------------------------------------------------------- precedence
class Parent(BaseModule):
    def __init__(self, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.cm = ConvModule(64, 128, 3, norm_cfg=dict(type="BN"))
        self.plain = nn.ModuleList([ConvModule(64, 128, 3)])


def test_the_convmodules_own_init_cfg_beats_its_default() -> None:
    conv = ConvModule(
        64, 128, 3, norm_cfg=dict(type="BN"), init_cfg=dict(type="Normal", layer="Conv2d", std=0.01)
    )
    conv.init_weights()
    assert conv.conv.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert torch.all(conv.bn.weight == 1.0)  # not covered by the rule: the default fills it


def test_the_convmodules_own_override_beats_its_default_for_the_norm() -> None:
    conv = ConvModule(
        3,
        8,
        3,
        norm_cfg=dict(type="BN"),
        init_cfg=dict(type="Constant", val=0.5, bias=0.25, override=dict(name="bn")),
    )
    conv.init_weights()
    assert torch.all(conv.bn.weight == 0.5) and torch.all(conv.bn.bias == 0.25)


def test_a_parents_layer_rule_beats_the_default_of_a_child_convmodule() -> None:
    parent = Parent(init_cfg=dict(type="Normal", layer="Conv2d", std=0.01))
    parent.init_weights()
    for conv in (parent.cm.conv, parent.plain[0].conv):
        assert conv.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert torch.all(parent.cm.bn.weight == 1.0)


def test_a_parents_override_naming_the_convmodule_beats_its_default_everywhere_inside() -> None:
    parent = Parent(init_cfg=dict(type="Constant", val=3.0, bias=4.0, override=dict(name="cm")))
    parent.init_weights()
    assert torch.all(parent.cm.conv.weight == 3.0)
    assert torch.all(parent.cm.bn.weight == 3.0) and torch.all(parent.cm.bn.bias == 4.0)


def test_a_convmodule_that_no_rule_covers_gets_its_default_even_inside_a_plain_modulelist() -> None:
    parent = Parent(init_cfg=dict(type="Constant", val=3.0, layer="BatchNorm2d"))
    parent.init_weights()
    assert parent.plain[0].conv.weight.std().item() == pytest.approx(kaiming_std(128 * 9), rel=0.02)
    assert torch.all(parent.plain[0].conv.bias == 0.0)
    assert torch.all(parent.cm.bn.weight == 3.0)


def test_in_mmengine_mode_a_reached_convmodule_reapplies_its_default_over_the_parents_rule() -> None:
    parent = Parent(init_cfg=dict(type="Normal", layer="Conv2d", std=0.01, bias=0.5))
    parent.init_weights(compat="mmengine")
    assert parent.cm.conv.weight.std().item() == pytest.approx(kaiming_std(128 * 9), rel=0.02)


def test_in_mmengine_mode_a_convmodule_in_a_plain_modulelist_keeps_the_parents_rule() -> None:
    parent = Parent(init_cfg=dict(type="Normal", layer="Conv2d", std=0.01, bias=0.5))
    parent.init_weights(compat="mmengine")
    assert parent.plain[0].conv.weight.std().item() == pytest.approx(0.01, rel=0.02)
    assert torch.all(parent.plain[0].conv.bias == 0.5)
