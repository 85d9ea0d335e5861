"""After any exception a run leaves every tensor as it was; success costs almost no memory.

The failures come late here: in user code after it wrote, in a user fill on one shape, in
a progress callback, as a KeyboardInterrupt. Each test compares every parameter and buffer
bit for bit, and the ``is_init`` flags, with what they were before the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

import torchinit
from torchinit import (
    WEIGHT_INITIALIZERS,
    BaseModule,
    ConvModule,
    FillInit,
    InitApplyError,
    InitWarning,
    constant_init,
    initialize,
    normal_init,
)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k, v in before.items():
        assert torch.equal(after[k], v), k


def flags(model: nn.Module) -> dict[str, bool]:
    return {n: m.is_init for n, m in model.named_modules() if isinstance(m, BaseModule)}


class Block(BaseModule):
    def __init__(self, fail: bool = False, init_cfg: Any = None) -> None:
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(4, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fail = fail

    def init_weights(self, **kwargs: Any) -> Any:
        report = super().init_weights(**kwargs)
        constant_init(self.bn, 0)
        if self.fail:
            raise ValueError("boom after writing")
        return report


class Net(BaseModule):
    def __init__(self, fail: bool = False) -> None:
        super().__init__(init_cfg=dict(type="Normal", std=0.5, layer="Conv2d"))
        self.stem = nn.Conv2d(3, 4, 3)
        self.block = Block(fail, init_cfg=dict(type="Constant", val=2, layer="Conv2d"))
        self.head = nn.Linear(4, 2)


def test_user_code_that_fails_after_writing_leaves_every_tensor_and_flag_as_it_was() -> None:
    net = Net(fail=True)
    before, before_flags = snapshot(net), flags(net)
    with pytest.raises(InitApplyError, match="user-defined init_weights of block") as info:
        net.init_weights()
    assert isinstance(info.value, ValueError)  # `except ValueError` written for mmengine still works
    assert isinstance(info.value.__cause__, ValueError) and "boom" in str(info.value.__cause__)
    assert "restored" in str(info.value)
    assert_unchanged(net, before)
    assert flags(net) == before_flags


def test_a_successful_run_with_user_code_saves_no_tensor_it_only_overwrites_whole() -> None:
    net = Net()
    report = net.init_weights()
    assert report.saved_bytes == 0
    assert torch.equal(net.block.conv.weight, torch.full_like(net.block.conv.weight, 2))
    assert torch.equal(net.block.bn.weight, torch.zeros(4))
    assert report["block.conv.weight"].source == "rule"
    assert report["block.bn.weight"].source == "user"
    assert report["stem.weight"].describe().startswith("Normal(mean=0, std=0.5)")


class Reads(BaseModule):
    """User code that reads what the parent's rule wrote and scales it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.small = nn.Linear(2, 2)

    def init_weights(self, **kwargs: Any) -> None:
        with torch.no_grad():
            self.small.weight.mul_(0.5)  # pointwise with a scalar: waits for the pending write
            self.small.weight.add_(self.small.weight.sum())  # reads the values: the pending write happens now


def test_user_code_reads_the_values_planned_before_it_and_only_what_it_reads_is_saved() -> None:
    net = nn.Sequential(Reads())
    net = torchinit.Sequential(*net, init_cfg=dict(type="Constant", val=4, layer="Linear"))
    report = net.init_weights()
    assert torch.equal(net[0].small.weight, torch.full((2, 2), 10.0))  # 4 * 0.5 + 4 * 2
    assert torch.equal(net[0].fc.weight, torch.full((64, 64), 4.0))
    assert report.saved_bytes == 2 * 2 * 4  # small.weight only: fc was never read by user code


class DataAssign(BaseModule):
    def __init__(self, fail: bool) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.fail = fail

    def init_weights(self, **kwargs: Any) -> None:
        self.fc.weight.data = torch.ones(3, 3)
        self.fc.bias = nn.Parameter(torch.zeros(3))
        self.fc.weight.data.normal_()  # a write through .data: seen, and still undone
        if self.fail:
            raise RuntimeError("late")


def test_storage_swaps_replaced_parameters_and_writes_through_data_are_undone() -> None:
    net = torchinit.Sequential(DataAssign(fail=True))
    weight, bias = net[0].fc.weight, net[0].fc.bias
    before = snapshot(net)
    with pytest.raises(InitApplyError, match="late"):
        net.init_weights()
    assert net[0].fc.weight is weight and net[0].fc.bias is bias
    assert_unchanged(net, before)


def test_writes_through_data_are_reported_as_user_code() -> None:
    net = torchinit.Sequential(DataAssign(fail=False))
    report = net.init_weights()
    assert report["0.fc.weight"].source == "user"
    assert report["0.fc.bias"].source == "user"


@WEIGHT_INITIALIZERS.register_module(name="FailsOnBias", force=True)
@dataclass(frozen=True, kw_only=True)
class FailsOnBias(FillInit):
    """A user initializer that cannot fill 1-d tensors (and says so only when filling)."""

    def fill(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        if tensor.dim() == 1:
            raise TypeError("cannot fill a 1-d tensor")
        return tensor.fill_(7)


def test_a_user_fill_that_fails_on_one_shape_after_others_were_written_changes_nothing() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.LayerNorm(4))
    before = snapshot(model)
    cfg = [dict(type="FailsOnBias", layer="Linear"), dict(type="FailsOnBias", layer="LayerNorm")]
    with pytest.raises(InitApplyError, match=r"FailsOnBias.*while filling 2\.weight") as info:
        initialize(model, cfg)
    assert isinstance(info.value, TypeError)
    assert_unchanged(model, before)


def test_a_function_as_type_that_fails_at_fill_time_changes_nothing() -> None:
    def fill_odd(tensor: torch.Tensor) -> None:
        if tensor.shape[0] == 3:
            raise RuntimeError("odd rows")
        tensor.fill_(1)

    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 3))
    before = snapshot(model)
    with pytest.raises(InitApplyError, match="odd rows"):
        initialize(model, dict(type=fill_odd, layer="Linear"))
    assert_unchanged(model, before)


def test_a_progress_callback_that_raises_midway_changes_nothing() -> None:
    model = nn.Sequential(*[nn.Linear(8, 8) for _ in range(4)])
    before = snapshot(model)
    calls = []

    def progress(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 3:
            raise RuntimeError("cancelled")

    with pytest.raises(InitApplyError, match="the progress callback raised RuntimeError: cancelled"):
        initialize(model, dict(type="Normal", layer="Linear"), progress=progress)
    assert_unchanged(model, before)


class Holder(BaseModule):
    def __init__(self) -> None:
        super().__init__(init_cfg=dict(type="Normal", std=0.5, layer="Linear"))
        self.fc = nn.Linear(6, 6)
        self.head = nn.Linear(6, 2)


@pytest.mark.parametrize("seed", [None, 0])
@pytest.mark.parametrize("where", ["progress", "function fill"])
def test_foreign_code_run_by_the_commit_that_swaps_tensors_and_flags_then_fails_changes_nothing(
    where: str, seed: int | None
) -> None:
    """A run of rules only records what a failure restores when foreign code is about to
    run: a progress callback or a function as ``type`` that replaces parameters and
    buffers, flips ``is_init`` and then raises must still find everything put back."""
    model = Holder()
    before = snapshot(model)
    objects = {n: p for n, p in [*model.named_parameters(), *model.named_buffers()]}

    def vandal() -> None:
        model.fc.weight = nn.Parameter(torch.zeros(6, 6))
        model.head.register_buffer("extra", torch.ones(1))
        model.fc.bias.data = torch.full((6,), 9.0)
        model.is_init = True
        raise RuntimeError("late")

    if where == "progress":
        with pytest.raises(InitApplyError, match="late"):
            model.init_weights(seed=seed, progress=lambda done, total: vandal())
    else:
        model.init_cfg = dict(type=lambda t: vandal(), layer="Linear")
        with pytest.raises(InitApplyError, match="late"):
            model.init_weights(seed=seed)
    assert_unchanged(model, before)
    assert {n: p for n, p in [*model.named_parameters(), *model.named_buffers()]} == objects
    assert model.fc.bias.data_ptr() == objects["fc.bias"].data_ptr()
    assert model.is_init is False


def test_keyboard_interrupt_in_user_code_restores_everything_and_stays_a_keyboard_interrupt() -> None:
    class Interrupted(BaseModule):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def init_weights(self, **kwargs: Any) -> None:
            nn.init.zeros_(self.fc.weight)
            with torch.no_grad():
                self.fc.bias.mul_(2)
            raise KeyboardInterrupt

    net = torchinit.Sequential(Interrupted(), nn.Linear(3, 3), init_cfg=dict(type="Constant", val=3, layer="Linear"))
    before, before_flags = snapshot(net), flags(net)
    with pytest.raises(KeyboardInterrupt):
        net.init_weights()
    assert_unchanged(net, before)
    assert flags(net) == before_flags


def test_progress_must_be_callable() -> None:
    with pytest.raises(TypeError, match="progress must be a function"):
        initialize(nn.Linear(2, 2), dict(type="Constant", val=1, layer="Linear"), progress=5)


# --------------------------------------------------------------------------- defaults never beat rules
class Head(BaseModule):
    def __init__(self, user_code: bool) -> None:
        super().__init__()
        self.conv = ConvModule(4, 4, 3, norm_cfg=dict(type="BN"))
        if user_code:
            self.init_weights = self._only_super  # type: ignore[method-assign]

    def _only_super(self, **kwargs: Any) -> Any:
        return BaseModule.init_weights(self, **kwargs)


class Outer(BaseModule):
    def __init__(self, user_code: bool) -> None:
        super().__init__(init_cfg=dict(type="Constant", val=3, bias=1, layer="Conv2d"))
        self.head = Head(user_code)


@pytest.mark.parametrize("user_code", [False, True])
def test_a_default_never_beats_an_outer_rule_even_through_user_code_that_calls_super(user_code: bool) -> None:
    net = Outer(user_code)
    report = net.init_weights()
    assert torch.equal(net.head.conv.conv.weight, torch.full_like(net.head.conv.conv.weight, 3))
    assert report["head.conv.conv.weight"].source == "rule"
    assert torch.equal(net.head.conv.bn.weight, torch.ones(4))  # the default still fills what no rule covers


class Deep(BaseModule):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.inner = Deep(depth - 1) if depth > 1 else None

    def default_init_cfg(self) -> Any:
        return dict(type="Constant", val=-1, layer="Conv2d")


@pytest.mark.parametrize("depth", [1, 9, 10, 30])
def test_nested_defaults_never_beat_an_ancestors_rule_at_any_depth(depth: int) -> None:
    net = torchinit.Sequential(Deep(depth), init_cfg=dict(type="Constant", val=5, layer="Conv2d"))
    net.init_weights()
    for name, p in net.named_parameters():
        assert torch.equal(p, torch.full_like(p, 5) if name.endswith("weight") else torch.zeros_like(p)), name


def test_init_weights_set_on_an_instance_is_honoured() -> None:
    net = Net()
    net.block.init_weights = lambda **kwargs: None  # type: ignore[method-assign]
    before = snapshot(net)
    report = net.init_weights()
    # the parent's Normal rule reaches block.conv (mmengine's order: parent rules, then the child's code)
    assert report["block.conv.weight"].describe().startswith("Normal")
    assert torch.equal(net.block.bn.weight, before["block.bn.weight"])


# --------------------------------------------------------------------------- compat mode
def test_compat_mode_class_objects_in_layer_match_nothing_as_in_mmengine() -> None:
    model = nn.Sequential(nn.Linear(2, 2))
    before = snapshot(model)
    with pytest.warns(InitWarning, match="class object in layer matches nothing"):
        initialize(model, dict(type="Constant", val=1, layer=[nn.Linear]), compat="mmengine")
    assert_unchanged(model, before)
    initialize(model, dict(type="Constant", val=1, layer=[nn.Linear]))
    assert torch.equal(model[0].weight, torch.ones(2, 2))


def test_compat_mode_applies_pretrained_in_list_order_in_initialize(tmp_path) -> None:
    path = tmp_path / "w.pth"
    torch.save({"0.weight": torch.full((2, 2), 9.0), "0.bias": torch.zeros(2)}, path)
    cfg = [dict(type="Pretrained", checkpoint=str(path)), dict(type="Constant", val=1, layer="Linear")]
    model = nn.Sequential(nn.Linear(2, 2))
    initialize(model, cfg, compat="mmengine")
    assert torch.equal(model[0].weight, torch.ones(2, 2))
    initialize(model, cfg)
    assert torch.equal(model[0].weight, torch.full((2, 2), 9.0))


def test_an_override_inside_a_pretrained_rule_applies_after_the_load(tmp_path) -> None:
    path = tmp_path / "w.pth"
    net0 = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    torch.save({k: torch.full_like(v, 9.0) for k, v in net0.state_dict().items()}, path)
    net = torchinit.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), init_cfg=dict(
        type="Pretrained", checkpoint=str(path), override=dict(name="1", type="Constant", val=1, bias=0)))
    report = net.init_weights()
    assert torch.equal(net[0].weight, torch.full((2, 2), 9.0))
    assert torch.equal(net[1].weight, torch.ones(2, 2)) and torch.equal(net[1].bias, torch.zeros(2))
    assert report["1.weight"].source == "rule" and report["0.weight"].source == "pretrained"


def test_pretrained_after_user_code_is_reported_as_pretrained(tmp_path) -> None:
    path = tmp_path / "w.pth"
    net = Net()
    torch.save({k: torch.full_like(v, 0.25) for k, v in net.state_dict().items()}, path)
    net.init_cfg = [net.init_cfg, dict(type="Pretrained", checkpoint=str(path))]
    report = net.init_weights()
    assert report["block.bn.weight"].source == "pretrained"
    assert torch.equal(net.block.bn.weight, torch.full((4,), 0.25))


def test_normal_init_in_user_code_is_deferred_and_still_visible_to_later_reads() -> None:
    class Scaled(BaseModule):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(16, 16)

        def init_weights(self, **kwargs: Any) -> None:
            normal_init(self.fc, std=1.0, bias=0.5)
            self.total = float(self.fc.bias.detach().sum())

    torch.manual_seed(0)
    net = torchinit.Sequential(Scaled())
    net.init_weights()
    assert net[0].total == pytest.approx(8.0)
    assert 0.7 < float(net[0].fc.weight.detach().std()) < 1.3


# --------------------------------------------------------------------------- issue 11's late-failure list
class Layers(BaseModule):
    def __init__(self, init_cfg: Any) -> None:
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 4)
        self.half = nn.Linear(4, 4).half()
        self.bn = nn.BatchNorm2d(4)


@pytest.mark.parametrize(
    ("cfg", "error", "names"),
    [
        (dict(type=torch.nn.init.normal_, layer="Linear", sdt=0.5), TypeError, ["sdt", "std"]),
        (dict(type="Constant", val=1e308, layer="Linear"), ValueError, ["Constant", "fc.weight"]),
        (dict(type="Constant", val=1, bias=-1e39, layer="Linear"), ValueError, ["fc.bias", "-1e+39"]),
        (dict(type="Uniform", a=-1e39, b=1, layer="Linear"), ValueError, ["Uniform", "fc.weight"]),
        (dict(type="Xavier", gain=1e308, layer="Linear", param="weight"), ValueError, ["Xavier", "fc.weight"]),
        (dict(type="Orthogonal", gain=-(2**64), layer="Linear", param="weight"), ValueError, ["Orthogonal", "half"]),
        (dict(type="DepthScaledNormal", depth=10**400, layer="Linear"), ValueError, ["DepthScaledNormal", "depth"]),
        ({1: 2, "type": "Constant", "val": 1, "layer": "Linear"}, TypeError, ["key"]),
        (dict(type="Constant", val=10**400, layer="Linear"), ValueError, ["val"]),
        (dict(type="Constant", val=1, bias_prob=1e-320, layer="Linear"), ValueError, ["bias_prob"]),
    ],
)
def test_each_late_failure_of_issue_11_is_a_torchinit_error_naming_it_and_changes_nothing(
    cfg: Any, error: type, names: list[str]
) -> None:
    model = Layers(None)
    model.init_cfg = [dict(type="Constant", val=9, layer="Conv2d"), cfg]
    before, before_flags = snapshot(model), flags(model)
    with pytest.raises(torchinit.TorchInitError) as info:
        model.init_weights()
    assert isinstance(info.value, error), repr(info.value)
    for name in names:
        assert name in str(info.value), (name, str(info.value))
    assert_unchanged(model, before)
    assert flags(model) == before_flags


def test_a_config_that_contains_itself_is_refused_when_the_module_is_built() -> None:
    cfg: dict[str, Any] = dict(type="Constant", val=1, layer="Linear")
    cfg["override"] = cfg
    with pytest.raises(torchinit.ConfigValueError, match="refers to itself"):
        Layers(cfg)
    deep: Any = dict(type="Constant", val=1, layer="Linear")
    for _ in range(3000):
        deep = [deep]
    with pytest.raises(torchinit.ConfigValueError, match="nested more than"):
        Layers(deep)


def test_a_root_whose_own_init_weights_takes_no_arguments_still_takes_a_seed_and_returns_the_report() -> None:
    class Root(BaseModule):
        def __init__(self) -> None:
            super().__init__(init_cfg=dict(type="Normal", layer="Linear"))
            self.fc = nn.Linear(8, 8)

        def init_weights(self) -> None:  # the DETR pattern: no arguments, returns None
            super().init_weights()

    values = []
    for _ in range(2):
        torch.manual_seed(len(values))  # the global generator differs: the seed must decide
        root = Root()
        report = root.init_weights(seed=5)
        assert isinstance(report, torchinit.InitReport) and report["fc.weight"].source == "rule"
        assert root.init_report is report
        values.append(root.fc.weight.detach().clone())
    assert torch.equal(values[0], values[1])
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        Root().init_weights(seed=-1)


def test_mmengines_trunc_normal_in_user_code_costs_no_copy() -> None:
    """uniform_, then erfinv_, mul_, add_, clamp_ in place: all wait for the commit."""

    class Swinish(BaseModule):
        def __init__(self) -> None:
            super().__init__(init_cfg=dict(type="Constant", val=1, layer="Linear"))
            self.fc = nn.Linear(256, 256)

        def init_weights(self, **kwargs: Any) -> None:
            super().init_weights(**kwargs)
            with torch.no_grad():  # what mmengine's _no_grad_trunc_normal_ does: std 0.02 cut at 2 std
                t = self.fc.weight
                t.uniform_(2 * 0.0228 - 1, 2 * 0.9772 - 1)
                t.erfinv_()
                t.mul_(0.02 * 2**0.5)
                t.add_(0.0)
                t.clamp_(min=-2, max=2)

    torch.manual_seed(0)
    net = torchinit.Sequential(Swinish())
    report = net.init_weights()
    assert report.saved_bytes == 0
    assert 0.0165 < float(net[0].fc.weight.detach().std()) < 0.0187  # 0.02 x 0.8796 (the cut)
    assert float(net[0].fc.weight.detach().abs().max()) <= 0.04 + 1e-6
    assert report["0.fc.weight"].source == "user" and report["0.fc.bias"].source == "rule"


def test_user_code_on_meta_tensors_raises_pointing_to_materialize() -> None:
    with torch.device("meta"):
        net = torchinit.Sequential(Reads())
    with pytest.raises(torchinit.InitStateError, match="meta device.*materialize"):
        net.init_weights()
    assert not net.is_init
    report = torchinit.materialize(net, seed=0)  # materialize runs it after allocating
    assert report["0.small.weight"].source == "user" and not net[0].small.weight.is_meta
