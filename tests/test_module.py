"""BaseModule, Sequential, ModuleList, ModuleDict and init_weights() precedence."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import assert_unchanged, state_of
from torch import nn

import torchinit
from torchinit import (
    BaseModule,
    ConfigTypeError,
    InitStateError,
    InitWarning,
    ModuleDict,
    ModuleList,
    Sequential,
    UnknownTypeError,
)
from torchinit import module as module_mod
from torchinit._module_attrs import bare_instance, instance_attr, stock_lookup


class FooConv1d(BaseModule):
    def __init__(self, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.conv1d = nn.Conv1d(4, 1, 4)


class FooConv2d(BaseModule):
    def __init__(self, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.conv2d = nn.Conv2d(3, 1, 3)


CFG1 = dict(type="Constant", layer="Conv1d", val=0.0, bias=1.0)
CFG2 = dict(type="Constant", layer="Conv2d", val=2.0, bias=3.0)
OUTER = dict(type="Constant", layer=["Conv1d", "Conv2d"], val=4.0, bias=5.0)


def full(t: torch.Tensor, value: float) -> bool:
    return bool(torch.all(t == value))


def check_inner_values(m1: FooConv1d, m2: FooConv2d) -> None:
    assert full(m1.conv1d.weight, 0) and full(m1.conv1d.bias, 1)
    assert full(m2.conv2d.weight, 2) and full(m2.conv2d.bias, 3)


# --------------------------------------------------------------------------- mmcv-cnn.md section 4
def test_basemodule_initializes_its_layers_from_init_cfg() -> None:
    model = FooConv1d(CFG1)
    model.init_weights()
    assert full(model.conv1d.weight, 0) and full(model.conv1d.bias, 1)


def test_sequential_initializes_each_child_by_its_own_init_cfg() -> None:
    seq = Sequential(FooConv1d(CFG1), FooConv2d(CFG2))
    seq.init_weights()
    check_inner_values(seq[0], seq[1])


def test_sequential_inner_init_cfg_has_higher_priority() -> None:
    seq = Sequential(FooConv1d(CFG1), FooConv2d(CFG2), init_cfg=OUTER)
    seq.init_weights()
    check_inner_values(seq[0], seq[1])


def test_modulelist_initializes_each_child_by_its_own_init_cfg() -> None:
    ml = ModuleList([FooConv1d(CFG1), FooConv2d(CFG2)])
    ml.init_weights()
    check_inner_values(ml[0], ml[1])


def test_modulelist_inner_init_cfg_has_higher_priority() -> None:
    ml = ModuleList([FooConv1d(CFG1), FooConv2d(CFG2)], init_cfg=OUTER)
    ml.init_weights()
    check_inner_values(ml[0], ml[1])


def test_moduledict_initializes_each_child_by_its_own_init_cfg() -> None:
    md = ModuleDict(dict(model1=FooConv1d(CFG1), model2=FooConv2d(CFG2)))
    md.init_weights()
    check_inner_values(md["model1"], md["model2"])


def test_moduledict_inner_init_cfg_has_higher_priority() -> None:
    md = ModuleDict(dict(model1=FooConv1d(CFG1), model2=FooConv2d(CFG2)), init_cfg=OUTER)
    md.init_weights()
    check_inner_values(md["model1"], md["model2"])


def test_outer_rule_reaches_children_without_their_own_rule() -> None:
    seq = Sequential(FooConv1d(), FooConv2d(CFG2), init_cfg=OUTER)
    seq.init_weights()
    assert full(seq[0].conv1d.weight, 4) and full(seq[0].conv1d.bias, 5)
    assert full(seq[1].conv2d.weight, 2)


# --------------------------------------------------------------------------- mmengine-weight-init-zh examples
class ToyLinearConv(BaseModule):
    def __init__(self, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.linear = nn.Linear(1, 1)
        self.conv = nn.Conv2d(1, 1, 1)


def test_kaiming_for_conv_and_xavier_for_linear_are_recorded_per_parameter() -> None:
    net = ToyLinearConv(init_cfg=[dict(type="Kaiming", layer="Conv2d"), dict(type="Xavier", layer="Linear")])
    report = net.init_weights()
    assert report is not None
    assert report["linear.weight"].initializer.startswith("Xavier(")
    assert report["linear.bias"].initializer.startswith("Xavier(") and report["linear.bias"].value == 0
    assert report["conv.weight"].initializer.startswith("Kaiming(")
    assert "mode=fan_out" in report["conv.weight"].initializer
    assert full(net.conv.bias, 0) and full(net.linear.bias, 0)


def test_one_rule_may_list_several_layers() -> None:
    net = ToyLinearConv(init_cfg=[dict(type="Kaiming", layer=["Conv2d", "Linear"])])
    report = net.init_weights()
    assert report is not None
    assert all(report[n].initializer.startswith("Kaiming(") for n in ("linear.weight", "conv.weight"))


class ToyTwoConvs(BaseModule):
    def __init__(self, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.conv1 = nn.Conv2d(1, 1, 1)
        self.conv2 = nn.Conv2d(1, 1, 1)


TWO_CONV_CFG = [dict(type="Kaiming", layer=["Conv2d"], override=dict(name="conv2", type="Xavier"))]


def test_override_gives_conv2_xavier_while_conv1_gets_kaiming() -> None:
    net = ToyTwoConvs(init_cfg=TWO_CONV_CFG)
    report = net.init_weights()
    assert report is not None
    assert report["conv1.weight"].initializer.startswith("Kaiming(")
    assert report["conv2.weight"].initializer.startswith("Xavier(")
    # mmengine's log says conv2.bias is KaimingInit because both rules write 0 and it compares
    # means; we record the rule that really wrote it last.
    assert report["conv2.bias"].initializer.startswith("Xavier(")
    assert report["conv2.weight"].beaten and "Kaiming" in report["conv2.weight"].beaten[0]


class ToyConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.custom_weight = nn.Parameter(torch.empty(1, 1, 1, 1))
        self.custom_bias = nn.Parameter(torch.empty(1))

    def init_weights(self) -> None:
        with torch.no_grad():
            self.custom_weight = self.custom_weight.fill_(1)
            self.custom_bias = self.custom_bias.fill_(0)


class ToyNetWithCustom(BaseModule):
    def __init__(self, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.conv1 = nn.Conv2d(1, 1, 1)
        self.conv2 = nn.Conv2d(1, 1, 1)
        self.custom_conv = ToyConv()


def test_a_child_with_its_own_init_weights_is_called_and_recorded() -> None:
    net = ToyNetWithCustom(init_cfg=TWO_CONV_CFG)
    report = net.init_weights()
    assert report is not None
    assert full(net.custom_conv.custom_weight, 1) and full(net.custom_conv.custom_bias, 0)
    rec = report["custom_conv.custom_weight"]
    assert rec.source == "user"
    assert rec.describe() == "initialized by the user-defined init_weights of ToyConv"


# --------------------------------------------------------------------------- precedence
class Holder(BaseModule):
    def __init__(self, child: nn.Module, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.child = child


def test_a_childs_init_cfg_beats_a_parents_override_naming_it() -> None:
    inner = FooConv2d(dict(type="Constant", layer="Conv2d", val=1))
    outer = Holder(inner, init_cfg=dict(type="Constant", val=9, override=dict(name="child")))
    outer.init_weights()
    assert full(inner.conv2d.weight, 1)
    assert full(inner.conv2d.bias, 0)


def test_a_users_init_weights_beats_the_parents_rules() -> None:
    outer = Holder(ToyConv(), init_cfg=dict(type="Constant", val=9, override=dict(name="child")))
    outer.init_weights()
    assert full(outer.child.custom_weight, 1)


def test_basemodules_inside_plain_containers_are_reached() -> None:
    class Net(BaseModule):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.Sequential(FooConv1d(CFG1), nn.ModuleList([FooConv2d(CFG2)]))

    net = Net()
    net.init_weights()
    check_inner_values(net.blocks[0], net.blocks[1][0])
    assert net.blocks[0].is_init and net.blocks[1][0].is_init


def test_mmengine_mode_never_reaches_basemodules_inside_plain_containers() -> None:
    class Net(BaseModule):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = nn.Sequential(FooConv1d(CFG1))

    net = Net()
    before = net.blocks[0].conv1d.weight.detach().clone()
    net.init_weights(compat="mmengine")
    assert torch.equal(net.blocks[0].conv1d.weight, before)


def test_a_second_init_weights_warns_and_changes_nothing() -> None:
    model = FooConv1d(dict(type="Normal", layer="Conv1d"))
    model.init_weights()
    before = state_of(model)
    with pytest.warns(InitWarning, match="more than once"):
        assert model.init_weights() is None
    assert_unchanged(model, before)
    model.is_init = False
    model.init_weights()
    assert not torch.equal(model.conv1d.weight, before["conv1d.weight"])


def test_an_already_initialized_child_is_skipped() -> None:
    child = FooConv1d(CFG1)
    child.init_weights()
    with torch.no_grad():
        child.conv1d.weight.fill_(42)
    Sequential(child).init_weights()
    assert full(child.conv1d.weight, 42)


def test_init_cfg_is_deep_copied_and_shown_in_repr() -> None:
    cfg = dict(type="Constant", layer="Conv1d", val=1)
    model = FooConv1d(cfg)
    cfg["val"] = 2
    assert model.init_cfg["val"] == 1
    assert "init_cfg" in repr(model)


def test_the_report_is_returned_and_kept_on_the_module() -> None:
    model = FooConv1d(CFG1)
    report = model.init_weights()
    assert model.init_report is report
    assert "conv1d.weight" in report.to_json()


# --------------------------------------------------------------------------- validate first, atomic
def test_a_bad_config_anywhere_in_the_tree_changes_nothing() -> None:
    good = FooConv1d(CFG1)
    bad = FooConv2d(dict(type="Kaimng", layer="Conv2d"))
    seq = Sequential(good, bad, init_cfg=OUTER)
    before = state_of(seq)
    with pytest.raises(UnknownTypeError, match="Kaiming") as info:
        seq.init_weights()
    assert isinstance(info.value, KeyError)
    assert "init_cfg of 1 (FooConv2d)" in str(info.value)
    assert_unchanged(seq, before)
    assert not seq.is_init and not good.is_init


def test_a_failing_user_init_weights_leaves_no_state_behind() -> None:
    class Boom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(3))

        def init_weights(self) -> None:
            with torch.no_grad():
                self.w.fill_(1)
            self.w = nn.Parameter(torch.ones(5))
            raise RuntimeError("user code failed")

    net = Sequential(FooConv1d(CFG1), Boom(), init_cfg=dict(type="Constant", layer="Conv1d", val=4))
    before = state_of(net)
    w_obj = net[1].w
    with pytest.raises(RuntimeError, match="user code failed"):
        net.init_weights()
    assert_unchanged(net, before)
    assert net[1].w is w_obj
    assert not net.is_init and not net[0].is_init


def test_a_user_init_weights_that_replaces_a_parameter_is_recorded() -> None:
    class Replacer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(3))

        def init_weights(self) -> None:
            self.w = nn.Parameter(torch.full((3,), 2.0))

    net = Holder(Replacer())
    report = net.init_weights()
    assert report is not None and report["child.w"].source == "user"
    assert full(net.child.w, 2)


def test_a_nested_basemodule_called_by_user_code_reports_its_rules() -> None:
    class Head(BaseModule):
        def __init__(self) -> None:
            super().__init__(dict(type="Constant", layer="Conv2d", val=3))
            self.conv = nn.Conv2d(1, 1, 1)
            self.extra = nn.Linear(1, 1)

        def init_weights(self, **kwargs: object) -> None:
            super().init_weights()
            with torch.no_grad():
                self.extra.weight.fill_(7)

    net = Holder(Head(), init_cfg=dict(type="Constant", layer="Conv2d", val=1))
    report = net.init_weights()
    assert report is not None
    assert full(net.child.conv.weight, 3) and full(net.child.extra.weight, 7)
    assert report["child.conv.weight"].source == "rule"
    assert report["child.conv.weight"].owner == "child"
    assert report["child.extra.weight"].source == "user"


def test_wrapped_children_are_unwrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    class Wrapper(nn.Module):
        def __init__(self, module: nn.Module) -> None:
            super().__init__()
            self.module = module

    monkeypatch.setattr(module_mod, "is_model_wrapper", lambda m: isinstance(m, Wrapper))
    inner = FooConv1d(CFG1)
    Holder(Wrapper(inner)).init_weights()
    assert full(inner.conv1d.weight, 0) and inner.is_init


def test_init_cfg_of_the_wrong_type_is_a_type_error_and_changes_nothing() -> None:
    model = FooConv1d("Kaiming")  # type: ignore[arg-type]
    before = state_of(model)
    with pytest.raises(ConfigTypeError, match="dict or a list"):
        model.init_weights()
    assert_unchanged(model, before)


# --------------------------------------------------------------------------- default rules
class WithDefault(BaseModule):
    def __init__(self, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(2, 2, 1)

    def default_init_cfg(self) -> object:
        return dict(type="Constant", val=5, bias=6, override=dict(name="conv"))


def test_default_rules_fill_only_what_no_rule_covers() -> None:
    alone = WithDefault()
    alone.init_weights()
    assert full(alone.conv.weight, 5) and full(alone.conv.bias, 6)
    own = WithDefault(dict(type="Constant", layer="Conv2d", val=1))
    own.init_weights()
    assert full(own.conv.weight, 1)


def test_a_parents_rule_beats_a_childs_default() -> None:
    net = Holder(WithDefault(), init_cfg=dict(type="Constant", layer="Conv2d", val=1))
    report = net.init_weights()
    assert full(net.child.conv.weight, 1)
    assert report is not None and report["child.conv.weight"].source == "rule"


def test_in_mmengine_mode_a_reached_childs_default_beats_the_parents_rule() -> None:
    net = Holder(WithDefault(), init_cfg=dict(type="Constant", layer="Conv2d", val=1))
    report = net.init_weights(compat="mmengine")
    assert full(net.child.conv.weight, 5)
    assert report is not None and report["child.conv.weight"].source == "default"


def test_set_compat_changes_the_process_default() -> None:
    from torchinit import get_compat, set_compat

    set_compat("mmengine")
    try:
        net = Holder(WithDefault(), init_cfg=dict(type="Constant", layer="Conv2d", val=1))
        net.init_weights()
        assert full(net.child.conv.weight, 5)
    finally:
        set_compat("torchinit")
    assert get_compat() == "torchinit"
    with pytest.raises(ValueError):
        set_compat("mmcv")


# --------------------------------------------------------------------------- meta device
def test_a_meta_device_model_is_planned_but_init_weights_points_to_materialize() -> None:
    with torch.device("meta"):
        model = FooConv1d(dict(type="Kaiming", layer="Conv1d"))
    assert torchinit.plan(model)["conv1d.weight"].source == "rule"
    with pytest.raises(InitStateError, match="materialize"):
        model.init_weights()
    assert not model.is_init


def test_deepcopy_of_a_module_keeps_its_config() -> None:
    model = FooConv1d(CFG1)
    clone = copy.deepcopy(model)
    clone.init_weights()
    assert full(clone.conv1d.weight, 0)


# --------------------------------------------------------------------------- extending a default init_cfg
class FPNLike(BaseModule):
    def __init__(
        self, init_cfg: object = dict(type="Xavier", layer="Conv2d", distribution="uniform")
    ) -> None:
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(4, 4)


def test_an_init_cfg_starting_with_ellipsis_extends_the_class_default() -> None:
    model = FPNLike(init_cfg=[..., dict(type="Constant", layer="Linear", val=2)])
    assert model.init_cfg[0]["type"] == "Xavier" and model.init_cfg[1]["type"] == "Constant"
    report = model.init_weights()
    assert report is not None and report["conv.weight"].initializer.startswith("Xavier(")
    assert full(model.fc.weight, 2)


def test_the_string_ellipsis_extends_too_for_yaml_and_json_configs() -> None:
    model = FPNLike(init_cfg=["...", dict(type="Constant", layer="Conv2d", val=1)])
    model.init_weights()
    assert full(model.conv.weight, 1)  # the added rule comes later and wins


def test_extending_a_class_without_a_default_is_a_clear_error() -> None:
    from torchinit import ConfigValueError

    with pytest.raises(ConfigValueError, match="declares no default"):
        FooConv1d([..., CFG1])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.compile's own imports warn
def test_compiled_and_data_parallel_children_are_unwrapped() -> None:
    compiled_inner, dp_inner = FooConv1d(CFG1), FooConv1d(CFG1)
    net = Sequential(torch.compile(compiled_inner), nn.DataParallel(dp_inner))
    report = net.init_weights()
    assert full(compiled_inner.conv1d.weight, 0) and compiled_inner.is_init
    assert full(dp_inner.conv1d.weight, 0) and dp_inner.is_init
    assert report is not None and report["0._orig_mod.conv1d.weight"].source == "rule"


# --------------------------------------------------------------------------- attribute look-up
def _variants(name: str) -> list[nn.Module]:
    """Modules on which ``getattr(m, name)`` takes every path there is."""

    class WithClassAttr(nn.Linear):
        pass

    setattr(WithClassAttr, name, True)

    class WithProperty(nn.Linear):
        @property
        def is_init(self) -> bool:
            raise AttributeError("computed")  # a property that fails: getattr falls back

        @property
        def init_weights(self) -> bool:
            return True

    found = object()

    class CustomGetattr(nn.Linear):
        def __getattr__(self, key: str) -> object:
            if key == name:
                return found
            return super().__getattr__(key)

    class CustomGetattribute(nn.Linear):
        def __getattribute__(self, key: str) -> object:
            if key == name:
                return found
            return super().__getattribute__(key)

    plain = nn.Linear(2, 2)
    on_instance = nn.Linear(2, 2)
    on_instance.__dict__[name] = lambda: None
    falsy_instance = nn.Linear(2, 2)
    falsy_instance.__dict__[name] = 0
    as_param = nn.Linear(2, 2)
    as_param.register_parameter(name, nn.Parameter(torch.ones(1)))
    as_buffer = nn.Linear(2, 2)
    as_buffer.register_buffer(name, torch.zeros(1))
    as_child = nn.Linear(2, 2)
    as_child.add_module(name, nn.ReLU())
    bare = nn.Linear.__new__(nn.Linear)  # __init__ never ran: no _parameters
    return [
        plain,
        on_instance,
        falsy_instance,
        as_param,
        as_buffer,
        as_child,
        WithClassAttr(2, 2),
        WithProperty(2, 2),
        CustomGetattr(2, 2),
        CustomGetattribute(2, 2),
        bare,
    ]


@pytest.mark.parametrize("name", ["is_init", "init_weights"])
def test_the_planners_attribute_look_up_agrees_with_getattr_on_every_path(name: str) -> None:
    """The fast look-up behind ``get_is_init``/``has_user_init_weights`` gives what
    ``getattr`` gives, whichever of the class, the instance, its tables or a custom
    ``__getattr__``/``__getattribute__`` holds the name (or none does)."""
    missing = object()
    for module in _variants(name):
        try:
            expected = getattr(module, name, missing)
        except Exception as exc:  # a module whose look-up itself raises: the same error
            with pytest.raises(type(exc)):
                instance_attr(module, name, missing)
            continue
        assert instance_attr(module, name, missing) is expected, type(module).__name__
    added = nn.Linear(2, 2)
    assert instance_attr(added, name, missing) is missing
    setattr(nn.Linear, name, "patched later")  # a class patched after the first look-up
    try:
        assert instance_attr(added, name, missing) == "patched later"
    finally:
        delattr(nn.Linear, name)


@pytest.mark.parametrize("name", ["is_init", "init_weights"])
def test_a_bare_instance_is_one_where_getattr_finds_neither_name(name: str) -> None:
    """``bare_instance`` (the planner's shortcut for plain layers), on a class of stock
    look-up: true only when ``getattr`` finds neither ``init_weights`` nor ``is_init``, and
    true then unless the module lacks its tables (``__init__`` never ran: the full checks)."""
    missing = object()
    for module in _variants(name):
        cls = type(module)
        if not (stock_lookup(cls, "init_weights") and stock_lookup(cls, "is_init")):
            continue  # not a plain class: the planner takes the full checks
        finds_none = all(getattr(module, n, missing) is missing for n in ("init_weights", "is_init"))
        if bare_instance(module):
            assert finds_none, type(module).__name__
        elif "_parameters" in vars(module):
            assert not finds_none, type(module).__name__
