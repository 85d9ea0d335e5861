"""initialize(module, init_cfg): the reference documents' examples and the engine's rules."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import torchinit
from torchinit import (
    WEIGHT_INITIALIZERS,
    BaseInit,
    ConfigValueError,
    InitWarning,
    OverrideNameError,
    initialize,
)


class FooNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.feat = nn.Conv1d(3, 1, 3)
        self.reg = nn.Conv2d(3, 3, 3)
        self.cls = nn.Linear(1, 2)


class FooNetSeqCls(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.feat = nn.Conv1d(3, 1, 3)
        self.reg = nn.Conv2d(3, 3, 3)
        self.cls = nn.Sequential(nn.Conv1d(3, 1, 3), nn.Linear(1, 2))


def full(t: torch.Tensor, value: float) -> bool:
    return bool(torch.all(t == value))


# --------------------------------------------------------------------------- mmcv-cnn.md examples
def test_layer_rule_initializes_every_listed_layer_with_the_same_config() -> None:
    model = FooNet()
    initialize(model, dict(type="Constant", layer=["Conv1d", "Conv2d", "Linear"], val=1))
    for m in (model.feat, model.reg, model.cls):
        assert full(m.weight, 1) and full(m.bias, 0)


def test_a_list_of_layer_rules_gives_each_layer_its_own_config() -> None:
    model = FooNet()
    init_cfg = [
        dict(type="Constant", layer="Conv1d", val=1),
        dict(type="Constant", layer="Conv2d", val=2),
        dict(type="Constant", layer="Linear", val=3),
    ]
    initialize(model, init_cfg)
    assert full(model.feat.weight, 1)
    assert full(model.reg.weight, 2)
    assert full(model.cls.weight, 3)


def test_override_with_type_gives_the_named_module_its_own_values() -> None:
    model = FooNetSeqCls()
    init_cfg = dict(
        type="Constant", layer=["Conv1d", "Conv2d"], val=1, bias=2,
        override=dict(type="Constant", name="reg", val=3, bias=4),
    )
    initialize(model, init_cfg)
    assert full(model.feat.weight, 1) and full(model.feat.bias, 2)
    assert full(model.cls[0].weight, 1) and full(model.cls[0].bias, 2)
    assert full(model.reg.weight, 3) and full(model.reg.bias, 4)


def test_override_with_name_only_reuses_the_rule_and_nothing_else_changes() -> None:
    model = FooNetSeqCls()
    feat_before = model.feat.weight.detach().clone()
    cls_before = model.cls[1].weight.detach().clone()
    initialize(model, dict(type="Constant", val=1, bias=2, override=dict(name="reg")))
    assert full(model.reg.weight, 1) and full(model.reg.bias, 2)
    assert torch.equal(model.feat.weight, feat_before)
    assert torch.equal(model.cls[1].weight, cls_before)


def test_a_rule_without_layer_or_override_initializes_nothing_and_warns_so() -> None:
    model = FooNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(InitWarning, match="has no layer, param or override, so it fills nothing"):
        report = initialize(model, dict(type="Constant", val=5))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    assert report.by_source("rule") == []


def test_override_without_name_is_invalid() -> None:
    with pytest.raises(ValueError, match="name"):
        initialize(FooNet(), dict(type="Constant", layer=["Conv1d", "Conv2d"], val=1, bias=2,
                                  override=dict(type="Constant", val=3, bias=4)))


def test_override_with_name_and_arguments_but_no_type_is_invalid() -> None:
    with pytest.raises(ValueError, match="type"):
        initialize(FooNet(), dict(type="Constant", layer=["Conv1d", "Conv2d"], val=1, bias=2,
                                  override=dict(name="reg", val=3, bias=4)))


# --------------------------------------------------------------------------- matching
class MyConv(nn.Conv2d):
    pass


class MyMyConv(MyConv):
    pass


def test_layer_matches_through_the_whole_class_hierarchy() -> None:
    model = nn.Sequential(MyMyConv(1, 1, 1), nn.Linear(2, 2))
    initialize(model, dict(type="Constant", layer="Conv2d", val=7))
    assert full(model[0].weight, 7)
    assert not full(model[1].weight, 7)


def test_mmengine_mode_matches_only_the_class_and_its_direct_bases() -> None:
    model = nn.Sequential(MyMyConv(1, 1, 1), MyConv(1, 1, 1))
    initialize(model, dict(type="Constant", layer="Conv2d", val=7), compat="mmengine")
    assert not full(model[0].weight, 7)  # Conv2d is a grand-parent: mmengine misses it
    assert full(model[1].weight, 7)


def test_layer_may_be_a_class_object() -> None:
    model = nn.Sequential(MyConv(1, 1, 1), nn.Conv2d(1, 1, 1))
    initialize(model, dict(type="Constant", layer=MyConv, val=3))
    assert full(model[0].weight, 3) and not full(model[1].weight, 3)


def test_type_may_be_the_initializer_class_itself() -> None:
    model = FooNet()
    initialize(model, dict(type=torchinit.Constant, layer="Linear", val=4))
    assert full(model.cls.weight, 4)


def test_override_fills_every_module_inside_the_named_submodule_whatever_its_class() -> None:
    model = FooNetSeqCls()
    initialize(model, dict(type="Constant", layer="Conv2d", val=1, override=dict(name="cls", type="Constant", val=9)))
    assert full(model.cls[0].weight, 9) and full(model.cls[1].weight, 9)


def test_override_naming_no_submodule_is_a_runtime_error_listing_children() -> None:
    model = FooNet()
    with pytest.raises(OverrideNameError, match="'reg'") as info:
        initialize(model, dict(type="Constant", val=1, override=dict(name="rge")))
    assert isinstance(info.value, RuntimeError)


def test_a_layer_name_that_matches_nothing_warns_with_the_close_class_name() -> None:
    model = FooNet()
    with pytest.warns(InitWarning, match="Conv2d"):
        initialize(model, dict(type="Constant", layer="Conv2D", val=1))


def test_bias_prob_sets_the_focal_loss_prior_bias() -> None:
    model = FooNet()
    initialize(model, dict(type="Normal", layer="Conv2d", std=0.01, bias_prob=0.01))
    assert torch.allclose(model.reg.bias, torch.full((3,), -4.59511985013459))


def test_a_fan_based_rule_on_a_one_dimensional_weight_is_a_config_error() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    before = model[1].weight.detach().clone()
    with pytest.raises(ConfigValueError, match="1.weight"):
        initialize(model, dict(type="Kaiming", layer=["Conv2d", "BatchNorm2d"]))
    assert torch.equal(model[1].weight, before)


def test_integer_parameters_take_constants_and_refuse_random_fills() -> None:
    class IntHolder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(2, 2, dtype=torch.int64), requires_grad=False)

    m = IntHolder()
    report = initialize(m, dict(type="Constant", layer="IntHolder", val=3))
    assert full(m.weight, 3) and report["weight"].source == "rule"
    with pytest.raises(ConfigValueError, match="int64"):
        initialize(m, dict(type="Normal", layer="IntHolder"))


# --------------------------------------------------------------------------- one write per tensor
def test_each_tensor_is_written_once_by_the_winning_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    original = torch.Tensor.normal_

    def counting(self: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls.append(tuple(self.shape))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "normal_", counting)
    model = FooNet()
    initialize(model, [dict(type="Normal", layer=["Conv2d", "Conv1d"]), dict(type="Normal", layer="Conv2d", std=2)])
    assert sorted(calls) == sorted([tuple(model.feat.weight.shape), tuple(model.reg.weight.shape)])


def test_later_rules_in_a_list_beat_earlier_ones_and_report_what_they_beat() -> None:
    model = FooNet()
    report = initialize(model, [dict(type="Constant", layer="Conv2d", val=1), dict(type="Constant", layer="Conv2d", val=2)])
    assert full(model.reg.weight, 2)
    assert report["reg.weight"].initializer == "Constant(val=2)"
    assert report["reg.weight"].beaten and "val=1" in report["reg.weight"].beaten[0]


def test_random_rules_draw_from_the_configured_distribution() -> None:
    conv = nn.Conv2d(64, 128, 3)
    initialize(conv, dict(type="Kaiming", layer="Conv2d"))
    expected = math.sqrt(2.0 / (128 * 9))  # fan_out, relu
    assert abs(float(conv.weight.detach().std()) - expected) / expected < 0.02
    assert full(conv.bias, 0)


# --------------------------------------------------------------------------- seeds and threads
def test_a_seed_makes_init_reproducible_and_independent_of_thread_count() -> None:
    a, b, c = FooNet(), FooNet(), FooNet()
    cfg = dict(type="Normal", layer=["Conv1d", "Conv2d", "Linear"], std=0.1)
    initialize(a, cfg, seed=3, num_threads=1)
    initialize(b, cfg, seed=3, num_threads=2)
    initialize(c, cfg, seed=4, num_threads=2)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    assert not torch.equal(a.reg.weight, c.reg.weight)


def test_a_seed_leaves_the_global_generator_untouched() -> None:
    model = FooNet()
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    initialize(model, dict(type="Normal", layer="Conv2d"), seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_seeded_values_depend_on_the_parameter_name_not_on_construction_order() -> None:
    class AB(nn.Module):
        def __init__(self, order: str) -> None:
            super().__init__()
            for name in order:
                setattr(self, name, nn.Linear(4, 4))

    x, y = AB("ab"), AB("ba")
    cfg = dict(type="Normal", layer="Linear")
    initialize(x, cfg, seed=11)
    initialize(y, cfg, seed=11)
    assert torch.equal(x.a.weight, y.a.weight) and torch.equal(x.b.weight, y.b.weight)


# --------------------------------------------------------------------------- opaque initializers
class MmengineStyleInit(BaseInit):
    """An initializer written the mmengine way: it walks the module itself."""

    def __init__(self, value: float = 5.0, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.value = value

    def __call__(self, module: nn.Module) -> None:
        for m in module.modules():
            if self.wholemodule or type(m).__name__ in self.layer:
                if getattr(m, "weight", None) is not None:
                    nn.init.constant_(m.weight, self.value)
                if getattr(m, "bias", None) is not None:
                    nn.init.constant_(m.bias, self.bias)


def test_a_user_registered_mmengine_style_initializer_runs_and_is_recorded() -> None:
    WEIGHT_INITIALIZERS.register_module(name="MmengineStyleTest", module=MmengineStyleInit, force=True)
    model = FooNet()
    report = initialize(model, dict(type="MmengineStyleTest", layer="Linear", value=6.0, bias=1.0,
                                    override=dict(name="reg", type="MmengineStyleTest", value=8.0)))
    assert full(model.cls.weight, 6) and full(model.cls.bias, 1)
    assert full(model.reg.weight, 8) and full(model.reg.bias, 0)
    assert report["cls.weight"].initializer == "MmengineStyleInit"
    assert report["feat.weight"].source == "none"


def test_the_callers_config_is_never_modified() -> None:
    cfg = [dict(type="Constant", layer=["Conv2d"], val=1, override=[dict(name="cls")])]
    snapshot = repr(cfg)
    initialize(FooNet(), cfg)
    assert repr(cfg) == snapshot


def test_a_real_class_absent_from_the_model_does_not_warn_when_the_rule_matched_something() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    initialize(model, dict(type="Constant", layer=["_BatchNorm", "GroupNorm"], val=1))  # no warning
    assert full(model[1].weight, 1)


def test_a_typo_in_a_layer_list_warns_even_when_another_entry_matched() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.Linear(2, 2))
    with pytest.warns(InitWarning, match="'Conv2D'.*Did you mean 'Conv2d'"):
        initialize(model, dict(type="Constant", layer=["Conv2D", "Linear"], val=1))


def test_plan_agrees_with_what_init_weights_then_does_and_writes_nothing() -> None:
    from examples.models import build_detector

    model = build_detector()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    planned = torchinit.plan(model)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    done = model.init_weights(seed=0)
    assert done is not None
    for name, rec in done.params.items():
        p = planned[name]
        assert (p.source, p.initializer, p.owner, p.role) == (rec.source, rec.initializer, rec.owner, rec.role), name
    assert any(r.is_buffer for r in planned)  # buffers are listed too


def test_plan_works_on_a_meta_model_and_marks_user_init_weights() -> None:
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.empty(2))

        def init_weights(self) -> None:
            raise AssertionError("plan must not run user code")

    class Net(torchinit.BaseModule):
        def __init__(self) -> None:
            super().__init__(dict(type="Normal", layer="Linear"))
            self.fc = nn.Linear(2, 2)
            self.custom = Custom()

    with torch.device("meta"):
        net = Net()
    report = torchinit.plan(net)
    assert report["fc.weight"].source == "rule"
    assert report["custom.w"].source == "user"
    assert not net.is_init


def test_a_fractional_constant_on_an_integer_tensor_is_an_error_not_a_silent_truncation() -> None:
    class IntHolder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(2, dtype=torch.int64), requires_grad=False)

    m = IntHolder()
    with pytest.raises(ConfigValueError, match="truncated"):
        initialize(m, dict(type="Constant", layer="IntHolder", val=0.5))
    assert full(m.weight, 0)


# --------------------------------------------------------------------------- selectors (param, paths, globs)
class Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.pos_token = nn.Parameter(torch.zeros(1, 3, 4))
        self.proj = nn.Linear(4, 4)


class Blocks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.ModuleDict(dict(attn=nn.ModuleDict(dict(proj=nn.Linear(4, 4), qkv=nn.Linear(4, 12)))))
                                     for _ in range(3)])
        self.tokens = Tokens()


def test_param_selects_bare_parameters_by_glob_anywhere_in_scope() -> None:
    model = Blocks()
    report = initialize(model, dict(type="Constant", val=2, param="*token"))
    assert full(model.tokens.cls_token, 2) and full(model.tokens.pos_token, 2)
    assert not full(model.tokens.proj.weight, 2)
    assert report["tokens.cls_token"].source == "rule"


def test_param_gives_weight_and_bias_of_one_layer_type_different_rules() -> None:
    model = Blocks()
    initialize(model, [dict(type="Constant", val=1, layer="Linear", param="weight"),
                       dict(type="Constant", val=7, layer="Linear", param="bias")])
    assert full(model.tokens.proj.weight, 1) and full(model.tokens.proj.bias, 7)


def test_param_cannot_be_combined_with_bias() -> None:
    with pytest.raises(ConfigValueError, match="param"):
        initialize(Blocks(), dict(type="Normal", layer="Linear", param="weight", bias=1))


def test_override_takes_a_dotted_path_with_indices() -> None:
    model = Blocks()
    initialize(model, dict(type="Constant", val=3, override=dict(name="blocks.1.attn.proj")))
    assert full(model.blocks[1]["attn"]["proj"].weight, 3)
    assert not full(model.blocks[0]["attn"]["proj"].weight, 3)


def test_override_takes_a_glob_matching_one_level_per_star() -> None:
    model = Blocks()
    initialize(model, dict(type="Constant", val=4, override=dict(name="blocks.*.attn.proj")))
    assert all(full(b["attn"]["proj"].weight, 4) for b in model.blocks)
    assert not any(full(b["attn"]["qkv"].weight, 4) for b in model.blocks)


def test_an_override_pattern_matching_nothing_lists_close_paths() -> None:
    with pytest.raises(OverrideNameError, match="blocks"):
        initialize(Blocks(), dict(type="Constant", val=4, override=dict(name="block.*.attn")))


def test_a_param_override_fills_only_the_named_parameters_of_the_submodule() -> None:
    model = Blocks()
    initialize(model, dict(type="Constant", val=1, override=dict(name="tokens", type="Constant", val=5, param="cls_token")))
    assert full(model.tokens.cls_token, 5) and not full(model.tokens.pos_token, 5)


def test_a_param_pattern_that_matches_nothing_warns() -> None:
    with pytest.warns(InitWarning, match="matches no parameter"):
        initialize(Blocks(), dict(type="Constant", val=1, param="*tokn"))


def test_an_initializer_with_specialize_gets_each_tensors_qualified_name_and_the_root() -> None:
    from dataclasses import dataclass

    seen: list[str] = []

    @dataclass(frozen=True, kw_only=True)
    class ByIndex(torchinit.FillInit):
        random = False
        index: int = -1

        def specialize(self, name: str, root: nn.Module) -> "ByIndex":
            seen.append(name)
            return ByIndex(index=int(name.split(".")[1]))

        def fill(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
            return tensor.fill_(self.index)

    model = Blocks()
    initialize(model, dict(type=ByIndex, override=dict(name="blocks.*.attn.proj")))
    assert [float(b["attn"]["proj"].weight.detach()[0, 0]) for b in model.blocks] == [0.0, 1.0, 2.0]
    assert "blocks.2.attn.proj.weight" in seen
    report = torchinit.plan(model, dict(type=ByIndex, override=dict(name="blocks.*.attn.proj")))
    assert report["blocks.2.attn.proj.weight"].initializer == "ByIndex(index=2)"


def test_records_keep_the_initializer_object_but_json_leaves_it_out() -> None:
    def ones_(tensor: torch.Tensor) -> torch.Tensor:
        return tensor.fill_(1)

    report = initialize(FooNet(), [dict(type="Normal", layer="Conv2d", std=0.5), dict(type=ones_, layer="Linear")])
    assert isinstance(report["reg.weight"].init, torchinit.Normal) and report["reg.weight"].init.std == 0.5
    assert report["reg.bias"].init == torchinit.Constant(val=0)
    text = report.to_json()
    assert '"init"' not in text and "ones_" in text


def test_progress_reports_elements_written_up_to_the_total() -> None:
    calls: list[tuple[int, int]] = []
    model = FooNet()
    initialize(model, dict(type="Normal", layer=["Conv1d", "Conv2d", "Linear"]), seed=0,
               progress=lambda done, total: calls.append((done, total)))
    total = sum(p.numel() for p in model.parameters())
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_a_seeded_report_names_its_seed_scheme_and_an_unseeded_one_has_none() -> None:
    seeded = initialize(FooNet(), dict(type="Normal", layer="Linear"), seed=3)
    assert seeded.seed_scheme is not None and seeded.seed_scheme["name"] == "bands-v1"
    assert '"seed_scheme"' in seeded.to_json()
    assert initialize(FooNet(), dict(type="Normal", layer="Linear")).seed_scheme is None


def test_an_initializer_of_your_own_checks_every_tensor_it_fills() -> None:
    from dataclasses import dataclass

    checked: list[tuple[int, ...]] = []

    @dataclass(frozen=True, kw_only=True)
    class Counted(torchinit.Normal):
        def check_values(self, tensor: torch.Tensor) -> None:
            checked.append(tuple(tensor.shape))

    initialize(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)), dict(type=Counted, layer="Linear"))
    assert checked == [(4, 4)] * 3


def test_a_torchinit_initializer_is_checked_once_per_kind_of_tensor(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchinit._init_base import FillInit

    checked: list[tuple[int, ...]] = []
    check = FillInit.check_tensor

    def counting(self: object, tensor: torch.Tensor, where: str) -> None:
        checked.append(tuple(tensor.shape))
        check(self, tensor, where)  # type: ignore[arg-type]

    counting.__module__ = check.__module__  # still torchinit's own check
    monkeypatch.setattr(FillInit, "check_tensor", counting)
    model = nn.Sequential(*(nn.Linear(4, 4) for _ in range(3)), nn.Linear(4, 2))
    initialize(model, dict(type="Normal", std=0.1, bias=0.5, layer="Linear"))
    assert sorted(checked) == [(2,), (2, 4), (4,), (4, 4)]  # weight and bias, per shape, once


def test_a_check_that_fails_names_its_tensor_after_the_same_initializer_passed_others() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4).half())
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ConfigValueError, match=r"cannot fill 2\.weight \(shape \(4, 4\), torch\.float16\)"):
        initialize(model, dict(type="Normal", std=1e4, layer="Linear"))  # float16 holds only up to 65504
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
