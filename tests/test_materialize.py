"""Meta-device construction + materialize(): each tensor allocated and initialized once."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import torchinit
from torchinit import BaseModule, ConfigTypeError, InitStateError, initialize, materialize


class Block(BaseModule):
    def __init__(self, dim: int = 32) -> None:
        super().__init__(
            init_cfg=[dict(type="TruncNormal", layer="Linear", std=0.02), dict(type="Constant", layer="LayerNorm", val=1)]
        )
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.bn = nn.BatchNorm1d(dim)


class Net(BaseModule):
    def __init__(self, order: str = "ab") -> None:
        super().__init__(init_cfg=dict(type="Kaiming", layer="Conv2d"))
        for name in order:
            setattr(self, name, Block())
        self.conv = nn.Conv2d(3, 8, 3)


def assert_same(a: nn.Module, b: nn.Module, names: list[str]) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    for n in names:
        assert torch.equal(sa[n], sb[n]), n


RULE_COVERED = [
    "conv.weight", "conv.bias",
    *[f"{blk}.{p}" for blk in "ab" for p in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "norm.weight", "norm.bias")],
]


def test_meta_build_then_materialize_gives_the_same_weights_as_eager_init_for_the_same_seed() -> None:
    eager = Net()
    eager.init_weights(seed=7)
    with torch.device("meta"):
        lazy = Net()
    materialize(lazy, "cpu", seed=7)
    assert all(not t.is_meta for t in lazy.state_dict().values())
    assert_same(eager, lazy, RULE_COVERED)


def test_seeded_init_is_the_same_for_one_and_two_threads_and_any_construction_order() -> None:
    a, b, c = Net("ab"), Net("ab"), Net("ba")
    a.init_weights(seed=3, num_threads=1)
    b.init_weights(seed=3, num_threads=2)
    c.init_weights(seed=3, num_threads=2)
    assert_same(a, b, list(a.state_dict()))
    assert_same(a, c, RULE_COVERED)


def test_buffers_come_out_as_a_normal_build_leaves_them() -> None:
    with torch.device("meta"):
        net = Net()
    report = materialize(net, seed=0)
    assert torch.equal(net.a.bn.running_mean, torch.zeros(32))
    assert torch.equal(net.a.bn.running_var, torch.ones(32))
    assert int(net.a.bn.num_batches_tracked) == 0
    assert torch.equal(net.a.bn.weight, torch.ones(32))
    assert report["a.bn.weight"].source == "reset"
    assert report["a.fc1.weight"].source == "rule"
    assert net.is_init and net.a.is_init


def test_a_tensor_nothing_covers_is_an_error_naming_it_and_the_model_stays_on_meta() -> None:
    class RMSNorm(nn.Module):  # no reset_parameters: a classic large-model bug
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.empty(16))

    with torch.device("meta"):
        net = nn.Sequential(nn.Linear(16, 16), RMSNorm())
    with pytest.raises(InitStateError, match=r"1\.weight") as info:
        materialize(net)
    assert isinstance(info.value, RuntimeError)
    assert "reset_parameters" in str(info.value)
    assert net[0].weight.is_meta and net[1].weight.is_meta
    materialize(net, init_cfg=dict(type="Constant", val=1, layer="RMSNorm"))
    assert torch.equal(net[1].weight, torch.ones(16)) and not net[0].weight.is_meta


def test_tied_weights_stay_tied() -> None:
    with torch.device("meta"):
        emb = nn.Embedding(10, 4)
        head = nn.Linear(4, 10, bias=False)
        head.weight = emb.weight
        net = nn.Sequential(emb, head)
    materialize(net, init_cfg=dict(type="Normal", layer="Embedding", std=0.02), seed=0)
    assert net[0].weight is net[1].weight and not net[0].weight.is_meta


def test_dtype_allocates_floating_tensors_in_that_dtype() -> None:
    with torch.device("meta"):
        net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    materialize(net, dtype=torch.bfloat16, seed=0)
    assert net[0].weight.dtype == torch.bfloat16
    assert net[1].num_batches_tracked.dtype == torch.long


def test_a_user_init_weights_is_trusted_to_cover_its_subtree() -> None:
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.empty(3))

        def init_weights(self) -> None:
            with torch.no_grad():
                self.w.fill_(2)

    class Outer(BaseModule):
        def __init__(self) -> None:
            super().__init__()
            self.custom = Custom()

    with torch.device("meta"):
        net = Outer()
    report = materialize(net)
    assert torch.equal(net.custom.w, torch.full((3,), 2.0))
    assert report["custom.w"].source == "user"


def test_materialize_rejects_a_bad_dtype_or_a_non_module() -> None:
    with pytest.raises(ConfigTypeError):
        materialize(nn.Linear(2, 2), dtype=torch.int32)
    with pytest.raises(ConfigTypeError):
        materialize("model")  # type: ignore[arg-type]


def test_seeded_meta_reset_parameters_are_reproducible() -> None:
    def build() -> nn.Module:
        with torch.device("meta"):
            return nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))

    x, y = build(), build()
    materialize(x, seed=5)
    materialize(y, seed=5)
    assert torch.equal(x[0].weight, y[0].weight) and not torch.equal(x[0].weight, x[1].weight)


def test_initialize_on_a_meta_model_raises_pointing_to_materialize_and_plan_still_works() -> None:
    with torch.device("meta"):
        lin = nn.Linear(4, 4)
    with pytest.raises(InitStateError, match=r"weight is on the meta device.*materialize"):
        initialize(lin, dict(type="Normal", layer="Linear"))
    assert lin.weight.is_meta
    assert torchinit.plan(lin, dict(type="Normal", layer="Linear"))["weight"].source == "rule"


def test_pretrained_on_meta_assigns_the_checkpoint_tensors_and_the_rest_gets_its_rule(tmp_path: object) -> None:
    from pathlib import Path

    source = Block()
    path = Path(str(tmp_path)) / "block.pth"
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("fc2.")}
    torch.save(state, path)

    class Holder(BaseModule):
        def __init__(self) -> None:
            super().__init__(init_cfg=[dict(type="Constant", layer="Linear", val=3),
                                       dict(type="Pretrained", checkpoint=str(path))])
            self.fc1 = nn.Linear(32, 64)
            self.fc2 = nn.Linear(64, 32)
            self.norm = nn.LayerNorm(32)
            self.bn = nn.BatchNorm1d(32)

    with torch.device("meta"):
        model = Holder()
    report = materialize(model, seed=0)
    assert torch.equal(model.fc1.weight, source.fc1.weight)
    assert torch.equal(model.bn.running_var, source.bn.running_var)
    assert bool(torch.all(model.fc2.weight == 3))  # not in the checkpoint: its rule
    assert report["fc1.weight"].source == "pretrained" and report["fc2.weight"].source == "rule"
