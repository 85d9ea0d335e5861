"""After init: the health check, the activation probe, the reproducibility record, print_report.

Also the contract the check relies on: plan() says what init_weights() then does, tensor by
tensor, on the example models.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math

import pytest
import torch
from torch import nn

import torchinit
from torchinit import (
    BaseModule,
    ConfigValueError,
    ConvModule,
    health_check,
    initialize,
    print_report,
    probe_activations,
    reproducibility_record,
    tied_parameters,
)
from torchinit.diagnostics._promises import promise_of


class Block(BaseModule):
    def __init__(self, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.conv = nn.Conv2d(16, 32, 3)
        self.bn = nn.BatchNorm2d(32)
        self.fc = nn.Linear(128, 64)


def _block(init_cfg=None) -> Block:
    cfg = init_cfg or [
        dict(type="Kaiming", layer="Conv2d"),
        dict(type="Constant", layer="BatchNorm2d", val=1),
        dict(type="Normal", layer="Linear", std=0.02),
    ]
    block = Block(cfg)
    block.init_weights(seed=0)
    return block


# --------------------------------------------------------------------------- promises
def test_kaiming_fan_out_relu_promises_std_sqrt_2_over_fan_out() -> None:
    block = _block()
    record = block.init_report["conv.weight"]
    promise = promise_of(record)
    fan_out = 32 * 3 * 3
    assert promise is not None
    assert promise.mean == 0
    assert promise.std == pytest.approx(math.sqrt(2 / fan_out))
    assert "sqrt(2/fan_out)" in promise.text and f"fan_out={fan_out}" in promise.text


def test_a_rules_bias_promises_its_constant() -> None:
    promise = promise_of(_block().init_report["fc.bias"])
    assert promise is not None and promise.constant and promise.mean == 0


@pytest.mark.parametrize(
    "rule",
    [
        dict(type="Constant", val=0.5),
        dict(type="Normal", mean=0.1, std=0.02),
        dict(type="TruncNormal", std=1.0, a=-1.0, b=1.5),
        dict(type="Uniform", a=-0.2, b=0.6),
        dict(type="Xavier", gain=2.0),
        dict(type="Xavier", distribution="uniform"),
        dict(type="Kaiming", mode="fan_in", nonlinearity="leaky_relu", a=0.1, distribution="uniform"),
        dict(type="Caffe2Xavier"),
        dict(type="Ones"),
        dict(type="LeCunNormal"),
        dict(type="LeCunUniform"),
        dict(type="VarianceScaling", scale=2.0, mode="fan_geo_avg", distribution="truncated_normal"),
        dict(type="TruncNormalTF", mean=0.5, std=0.1, a=-1.0, b=3.0),
        dict(type="TruncNormalTF", std=0.1, corrected=True),
    ],
)
def test_every_built_in_fill_keeps_its_promise(rule) -> None:
    net = nn.Sequential(nn.Linear(300, 200))
    report = initialize(net, dict(layer="Linear", **rule), seed=1)
    health = health_check(net, report)
    assert health.ok, health.findings
    (weight,) = [t for t in health.tensors if t.name == "0.weight"]
    assert weight.expected is not None
    if weight.expected.constant:
        assert weight.mean == pytest.approx(weight.expected.mean)
    else:
        assert weight.std == pytest.approx(weight.expected.std, rel=0.02)
        assert weight.mean == pytest.approx(weight.expected.mean, abs=0.02 * weight.expected.std + 1e-3)


def test_tensors_without_a_promise_are_listed_but_not_compared() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    report = initialize(
        net, dict(type="Normal", layer="Linear", std=0.1, override=dict(name="1", type="Ones"))
    )
    health = health_check(net, report)
    assert [t.name for t in health.tensors] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert health.ok


# --------------------------------------------------------------------------- findings
def test_a_clean_init_has_no_findings_and_the_report_comes_from_the_model() -> None:
    health = health_check(_block())  # BaseModule keeps its init_report
    assert health.ok and health.findings == []
    assert sum(t.expected is not None for t in health.tensors) == 6
    assert "no problems" in health.summary()


def test_a_weight_scaled_after_init_breaks_the_promise_of_its_rule() -> None:
    block = _block()
    with torch.no_grad():
        block.conv.weight.mul_(3)
    health = health_check(block)
    assert not health.ok
    (finding,) = health.findings
    assert (finding.severity, finding.kind, finding.name) == ("error", "std", "conv.weight")
    assert "Kaiming" in finding.message and "sqrt(2/fan_out)" in finding.message


def test_a_constant_that_drifted_and_values_outside_a_uniform_range_are_errors() -> None:
    net = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 64))
    rule = dict(type="Constant", layer="Linear", val=1, override=dict(name="1", type="Uniform", a=0, b=1))
    report = initialize(net, rule)
    with torch.no_grad():
        net[0].weight[0, 0] = 1.5
        net[1].weight[0, 0] = -0.5
    kinds = {(f.name, f.kind) for f in health_check(net, report).findings}
    assert ("0.weight", "constant") in kinds and ("1.weight", "range") in kinds


def test_nan_or_inf_in_a_parameter_or_buffer_is_an_error() -> None:
    block = _block()
    with torch.no_grad():
        block.fc.weight[0, 0] = float("nan")
        block.bn.running_var[0] = float("inf")
    found = {(f.name, f.kind, f.severity) for f in health_check(block).findings}
    assert found == {("fc.weight", "nonfinite", "error"), ("bn.running_var", "nonfinite", "error")}


def test_an_all_zero_weight_no_rule_asked_for_is_reported_and_zero_biases_from_rules_are_not() -> None:
    block = _block()
    with torch.no_grad():
        block.fc.weight.zero_()
    (finding,) = health_check(block).findings
    assert (finding.name, finding.kind, finding.severity) == ("fc.weight", "zero", "error")
    assert "does not set it to zero" in finding.message

    net = nn.Sequential(nn.Linear(3, 3))
    with torch.no_grad():
        net[0].weight.zero_()
    (finding,) = health_check(net).findings  # no report: no rule set it
    assert finding.severity == "warning" and "left as built" in finding.message


def test_a_rule_that_asks_for_zeros_is_not_a_finding() -> None:
    net = nn.Sequential(nn.Linear(8, 8))
    report = initialize(net, dict(type="Constant", layer="Linear", val=0))
    assert health_check(net, report).findings == []


def test_tied_weights_must_still_be_one_tensor_after_init() -> None:
    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.head = nn.Linear(4, 10, bias=False)
            self.head.weight = self.emb.weight

    net = Tied()
    ties = tied_parameters(net)
    assert ties == [("emb.weight", "head.weight")]
    assert health_check(net, ties=ties).ok
    net.head.weight = nn.Parameter(net.emb.weight.detach().clone())  # an init that replaced the tensor
    (finding,) = health_check(net, ties=ties).findings
    assert (finding.kind, finding.name) == ("tie", "emb.weight = head.weight")


def test_meta_tensors_are_counted_not_read() -> None:
    with torch.device("meta"):
        net = nn.Linear(4, 4)
    health = health_check(net)
    assert health.skipped == 2 and health.tensors == [] and health.ok


def test_the_health_check_logs_a_summary(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="torchinit"):
        health_check(_block())
    assert any("health check:" in r.getMessage() and "no problems" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- plan vs init on the examples
@pytest.mark.parametrize("build", ["build_detector", "build_vit"])
def test_plan_agrees_with_init_weights_tensor_by_tensor_on_the_example_models(build: str) -> None:
    import examples.models

    model = getattr(examples.models, build)()
    planned = torchinit.plan(model)
    done = model.init_weights(seed=0)
    assert done is not None
    assert set(done.params) <= set(planned.params)
    for name, rec in done.params.items():
        p = planned[name]
        assert (p.source, p.initializer, p.owner, p.role, p.value) == (
            rec.source,
            rec.initializer,
            rec.owner,
            rec.role,
            rec.value,
        ), name
        assert p.beaten == rec.beaten, name
    health = health_check(model, done)
    assert health.ok, health.findings
    by_rules = [r for r in done if r.source in ("rule", "default")]
    assert sum(t.expected is not None for t in health.tensors) == len(by_rules)  # each one set by a rule


# --------------------------------------------------------------------------- probe
def test_the_probe_records_each_leaf_output_in_the_order_they_ran_and_restores_the_mode() -> None:
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)).train()
    probe = probe_activations(net, input_shape=(64, 16), seed=0)
    assert [(x.name, x.type, x.shape) for x in probe.layers] == [
        ("0", "Linear", (64, 32)),
        ("1", "ReLU", (64, 32)),
        ("2", "Linear", (64, 4)),
    ]
    assert net.training and not net[0]._forward_hooks
    assert probe.input_std == pytest.approx(1, rel=0.1)
    assert probe.ok and probe.problems() == []
    again = probe_activations(net, input_shape=(64, 16), seed=0)
    assert [x.std for x in again.layers] == [x.std for x in probe.layers]


def test_a_module_called_twice_is_recorded_per_call() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(self.fc(x))

    probe = probe_activations(Twice(), input_shape=(2, 4))
    assert [(x.name, x.call) for x in probe.layers] == [("fc", 0), ("fc", 1)]


def test_a_signal_that_vanishes_or_becomes_nan_is_reported() -> None:
    net = nn.Sequential(*[nn.Linear(32, 32, bias=False) for _ in range(4)])
    initialize(net, dict(type="Normal", layer="Linear", std=0.01))
    probe = probe_activations(net, input_shape=(16, 32))
    assert any("vanished" in p for p in probe.problems())
    with torch.no_grad():
        net[2].weight[0, 0] = float("nan")
    probe = probe_activations(net, input_shape=(16, 32))
    assert not probe.ok and any("NaN" in p for p in probe.problems())


def test_token_inputs_are_drawn_below_high_and_need_it() -> None:
    emb = nn.Sequential(nn.Embedding(10, 4))
    probe = probe_activations(emb, input_shape=(2, 5), dtype=torch.int64, high=10)
    assert probe.layers[0].shape == (2, 5, 4) and probe.input_std == 0
    with pytest.raises(ConfigValueError, match="high"):
        probe_activations(emb, input_shape=(2, 5), dtype=torch.int64)


# --------------------------------------------------------------------------- record and rendering
def test_the_record_holds_versions_seed_config_checkpoint_sha256_and_rule_counts(tmp_path) -> None:
    source = nn.Sequential(nn.Linear(4, 4))
    path = tmp_path / "w.pth"
    torch.save(source.state_dict(), path)
    net = nn.Sequential(nn.Linear(4, 4))
    cfg = [dict(type="Normal", layer="Linear"), dict(type="Pretrained", checkpoint=str(path))]
    record = reproducibility_record(
        initialize(net, cfg, seed=3), config=dict(type=nn.Linear, init_cfg=cfg), model=net
    )
    assert record["torchinit"] == torchinit.__version__ and record["torch"] == torch.__version__
    assert record["seed"] == 3 and record["parameters"] == 20 and record["tensors"] == 2
    assert record["config"]["type"] == "torch.nn.modules.linear.Linear"
    (ckpt,) = record["checkpoints"]
    assert ckpt["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and ckpt["loaded"] == 2
    assert [(r["rule"].split("(")[0], r["tensors"]) for r in record["rules"]] == [
        ("Normal", 0),
        ("Pretrained", 2),
    ]
    assert record["sources"] == {"pretrained": 2}


def test_print_report_groups_tensors_by_module_and_says_why_a_rule_lost() -> None:
    class Neck(BaseModule):
        def __init__(self) -> None:
            super().__init__(dict(type="Xavier", layer="Conv2d"))
            self.lateral = ConvModule(4, 4, 1)

    model = Neck()
    out = io.StringIO()
    print_report(torchinit.plan(model), model=model, file=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["tensor", "shape", "set", "by", "rule", "of", "beats"]
    assert "lateral.conv (Conv2d)" in lines[1]
    weight = next(line for line in lines if line.strip().startswith("weight"))
    assert "Xavier" in weight and "init_cfg of the root" in weight
    assert "[default of lateral]: defaults have the lowest priority" in weight
    assert lines[-1].startswith("2 tensors: 2 set by a rule")
    assert all(line == line.rstrip() and "\x1b" not in line for line in lines)
