"""Every initializer of the catalogue promises something the health check can test, and the
check holds each tensor to it: a fill keeps its promise, and a tensor changed afterwards
breaks it (statistics on fixed seeds, structure exactly)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from _helpers import one_thread  # noqa: F401  (autouse fixture)
from torch import nn

from torchinit import WEIGHT_INITIALIZERS, BaseModule, FillInit, health_check, initialize
from torchinit.diagnostics._promises import NO_PROMISE, has_promise, promise_of


# --------------------------------------------------------------------------- the catalogue
def test_every_initializer_torchinit_registers_has_a_promise_or_says_why_it_has_none() -> None:
    ours = {name: WEIGHT_INITIALIZERS.get(name) for name in WEIGHT_INITIALIZERS.names()}
    ours = {name: cls for name, cls in ours.items() if cls.__module__.startswith("torchinit.")}
    assert len(ours) >= 23
    missing = [name for name, cls in ours.items() if not has_promise(cls)]
    assert missing == [], f"registered initializers the health check knows nothing about: {missing}"
    assert all(reason for reason in NO_PROMISE.values())
    assert "Pretrained" in NO_PROMISE


def test_an_initializer_that_draws_without_a_promise_is_found_missing() -> None:
    @dataclass(frozen=True, kw_only=True)
    class Drawn(FillInit):
        def fill(self, tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
            return tensor.normal_(generator=generator)

    assert not has_promise(Drawn)


# --------------------------------------------------------------------------- fills keep their promise
class Blocks(nn.Module):
    """Four blocks of a Linear and an Embedding with a padding row, and buffers."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(400, 64, padding_idx=3)
        self.h = nn.ModuleList([nn.ModuleDict(dict(proj=nn.Linear(128, 96))) for _ in range(4)])
        self.conv = nn.Conv2d(16, 32, 3)
        self.register_buffer("position_ids", torch.zeros(1, 50, dtype=torch.long))
        self.register_buffer("scale", torch.zeros(8))


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "EmbeddingNormal": (dict(type="EmbeddingNormal", layer="Embedding", std=0.02), "emb.weight"),
    "DepthScaledNormal": (dict(type="DepthScaledNormal", std=0.02, override=dict(name="h.*.proj")), "h.2.proj.weight"),
    "Orthogonal": (dict(type="Orthogonal", layer="Linear", gain=2.0), "h.0.proj.weight"),
    "DeltaOrthogonal": (dict(type="DeltaOrthogonal", layer="Conv2d", gain=1.5), "conv.weight"),
    "Sparse": (dict(type="Sparse", layer="Linear", sparsity=0.3, std=0.1), "h.1.proj.weight"),
    "Eye": (dict(type="Eye", layer="Linear"), "h.3.proj.weight"),
    "Dirac": (dict(type="Dirac", layer="Conv2d"), "conv.weight"),
    "Arange": (dict(type="Arange", buffer="position_ids"), "position_ids"),
    "FromModule": (dict(type="FromModule", buffer="scale", fn=lambda m: torch.linspace(0, 1, 8)), "scale"),
    "Constant on a buffer": (dict(type="Constant", val=2, buffer="scale"), "scale"),
}


def _run(rule: dict[str, Any]) -> tuple[Blocks, Any]:
    model = Blocks()
    return model, initialize(model, rule, seed=0)


@pytest.mark.parametrize("case", list(CASES))
def test_each_fill_keeps_the_promise_the_health_check_holds_it_to(case: str) -> None:
    rule, name = CASES[case]
    model, report = _run(rule)
    health = health_check(model, report)
    assert health.ok and health.findings == [], health.findings
    (checked,) = [t for t in health.tensors if t.name == name]
    assert checked.expected is not None, f"{case}: no promise for {name}"


@pytest.mark.parametrize(
    ("case", "spoil", "kind"),
    [
        ("EmbeddingNormal", lambda m: m.emb.weight[3].fill_(0.01), "structure"),
        ("Orthogonal", lambda m: m.h[0].proj.weight[0, 0].add_(0.05), "structure"),
        ("DeltaOrthogonal", lambda m: m.conv.weight[0, 0, 0, 0].fill_(0.1), "structure"),
        ("Sparse", lambda m: m.h[1].proj.weight.add_(1e-3), "structure"),
        ("Eye", lambda m: m.h[3].proj.weight[1, 0].fill_(1), "structure"),
        ("Dirac", lambda m: m.conv.weight[1, 1, 1, 1].fill_(0), "structure"),
        ("Arange", lambda m: m.position_ids[0, 7].fill_(0), "structure"),
        ("FromModule", lambda m: m.scale.mul_(2), "structure"),
        ("Constant on a buffer", lambda m: m.scale[0].fill_(1), "constant"),
        ("DepthScaledNormal", lambda m: m.h[2].proj.weight.mul_(math.sqrt(8)), "std"),
        ("EmbeddingNormal", lambda m: m.emb.weight.mul_(1.5), "std"),
    ],
)
def test_a_tensor_changed_after_its_fill_breaks_the_promise(case: str, spoil: Any, kind: str) -> None:
    rule, name = CASES[case]
    model, report = _run(rule)
    with torch.no_grad():
        spoil(model)
    findings = [(f.name, f.kind) for f in health_check(model, report).findings]
    assert (name, kind) in findings, findings


def test_depth_scaled_normal_promises_the_std_of_the_block_count() -> None:
    _, report = _run(CASES["DepthScaledNormal"][0])
    promise = promise_of(report["h.0.proj.weight"])
    assert promise is not None and promise.std == pytest.approx(0.02 / math.sqrt(2 * 4))


def test_embedding_normal_promises_the_std_of_the_values_with_the_padding_row_among_them() -> None:
    _, report = _run(CASES["EmbeddingNormal"][0])
    promise = promise_of(report["emb.weight"])
    assert promise is not None and "padding row 3" in promise.text
    assert promise.std == pytest.approx(0.02 * math.sqrt(399 / 400))


def test_the_summary_counts_buffers_a_rule_set() -> None:
    model, report = _run([CASES["Arange"][0], CASES["Constant on a buffer"][0]])
    assert "and 2 buffers set by rules" in health_check(model, report).summary()


# --------------------------------------------------------------------------- zeros someone asked for
class ZeroedByItsOwnCode(BaseModule):
    def __init__(self) -> None:
        super().__init__(dict(type="Normal", layer="Linear", std=0.02))
        self.head = Head()
        self.fc = nn.Linear(8, 8)


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def init_weights(self) -> None:  # timm's heads: deliberately zero
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)


def test_zeros_the_models_own_init_weights_wrote_are_not_findings() -> None:
    model = ZeroedByItsOwnCode()
    report = model.init_weights(seed=0)
    assert report["head.proj.weight"].source == "user"
    assert health_check(model, report).findings == []


def test_zeros_from_a_rule_that_promises_nothing_are_its_own_and_not_findings() -> None:
    net = nn.Sequential(nn.Linear(4, 4))
    report = initialize(net, dict(type=torch.nn.init.zeros_, layer="Linear"))
    assert promise_of(report["0.weight"]) is None
    assert health_check(net, report).findings == []


def test_zeros_where_a_rule_promised_a_distribution_are_still_an_error() -> None:
    model, report = _run(CASES["Orthogonal"][0])
    with torch.no_grad():
        model.h[0].proj.weight.zero_()
    (finding,) = [f for f in health_check(model, report).findings if f.name == "h.0.proj.weight"]
    assert (finding.kind, finding.severity) == ("zero", "error")


# --------------------------------------------------------------------------- PyTorch's own defaults
def test_torch_default_promises_what_each_pytorch_layer_writes_and_a_scaled_weight_breaks_it() -> None:
    net = nn.Sequential(nn.Linear(300, 200), nn.LayerNorm(200), nn.Embedding(500, 8, padding_idx=1),
                        nn.BatchNorm2d(4), nn.Conv2d(16, 32, 3))
    report = initialize(net, dict(type="TorchDefault", layer=["Linear", "LayerNorm", "Embedding", "BatchNorm2d",
                                                              "Conv2d"]), seed=0)
    health = health_check(net, report)
    assert health.ok and all(t.expected is not None for t in health.tensors), health.findings
    (linear,) = [t for t in health.tensors if t.name == "0.weight"]
    assert linear.expected.high == pytest.approx(1 / math.sqrt(300))
    with torch.no_grad():
        net[4].weight.mul_(1.2)
    assert ("4.weight", "range") in {(f.name, f.kind) for f in health_check(net, report).findings}


class SelfInitializing(nn.Module):
    """A Hugging Face-like model: its constructor's post_init() zeroes its bias."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.post_init()

    def post_init(self) -> None:
        nn.init.zeros_(self.proj.bias)


def test_zeros_left_as_built_inside_a_self_initializing_submodule_are_its_own() -> None:
    class Wrapper(BaseModule):
        def __init__(self) -> None:
            super().__init__(dict(type="Normal", std=0.02, override=dict(name="plain")))
            self.hf = SelfInitializing()
            self.plain = nn.Linear(8, 8)

    model = Wrapper()
    with torch.no_grad():
        model.plain.bias.fill_(1)
    report = model.init_weights(seed=0)
    assert report["hf.proj.bias"].source == "none"
    assert health_check(model, report).findings == []
    with torch.no_grad():
        model.plain.weight.zero_()
    assert [(f.name, f.kind) for f in health_check(model, report).findings] == [("plain.weight", "zero")]
