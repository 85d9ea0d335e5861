"""Rules about a module's own init code: TorchDefault, ModuleInit, SkipInitWeights; and seeded
runs make user init code reproducible."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import torchinit
from torchinit import BaseModule, initialize, materialize, plan
from torchinit.initializers import TorchDefault  # noqa: F401  (registered by name below)


class Patch(nn.Module):
    """timm-like: a patch embedding and a head left at PyTorch's default."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 16, 4, stride=4)
        self.blocks = nn.Sequential(nn.Linear(16, 16), nn.Linear(16, 16))
        self.head = nn.Linear(16, 10)


def bound(m: nn.Module) -> float:
    fan_in = nn.init._calculate_fan_in_and_fan_out(m.weight)[0]
    return 1 / fan_in**0.5


def test_torch_default_resets_each_matched_layer_as_a_rule_and_later_rules_still_win() -> None:
    model = Patch()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(9)
    rules = [dict(type="TorchDefault", layer="Conv2d"), dict(type="TorchDefault", override=dict(name="head")),
             dict(type="Normal", std=0.02, layer="Linear", override=dict(name="blocks.1", type="Constant", val=3))]
    report = initialize(model, rules, seed=0)
    for m in (model.proj,):
        assert float(m.weight.detach().abs().max()) <= bound(m) and float(m.weight.detach().std()) > 0.3 * bound(m)
    # the Normal rule comes later in the list and covers the head's Linear too
    assert 0.01 < float(model.head.weight.detach().std()) < 0.03
    assert torch.equal(model.blocks[1].weight, torch.full((16, 16), 3.0))
    assert report["proj.weight"].initializer == "TorchDefault(reset_parameters)"
    assert report["proj.weight"].source == "rule" and report.saved_bytes == 0
    planned = plan(Patch(), rules)
    assert planned["proj.bias"].initializer == "TorchDefault(reset_parameters)"


def test_torch_default_in_a_seeded_run_is_reproducible() -> None:
    values = []
    for k in range(2):
        torch.manual_seed(k)
        model = Patch()
        initialize(model, dict(type="TorchDefault", layer=["Conv2d", "Linear"]), seed=11)
        values.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*values))


class WithOwnInit(BaseModule):
    def __init__(self) -> None:
        super().__init__(init_cfg=dict(type="Constant", val=2, layer="Linear"))
        self.fc = nn.Linear(8, 8)

    def init_weights(self, **kwargs: Any) -> Any:
        super().init_weights(**kwargs)
        with torch.no_grad():
            nn.init.normal_(self.fc.weight)  # the model's own code, after its rules


def test_skip_init_weights_switches_a_modules_own_code_off_by_config() -> None:
    net = torchinit.Sequential(WithOwnInit(), WithOwnInit(), init_cfg=[
        dict(type="SkipInitWeights", override=dict(name="1"))])
    report = net.init_weights()
    assert report["0.fc.weight"].source == "user"
    assert torch.equal(net[1].fc.weight, torch.full((8, 8), 2.0)) and report["1.fc.weight"].source == "rule"
    by_layer = torchinit.Sequential(WithOwnInit(), init_cfg=dict(type="SkipInitWeights", layer="WithOwnInit"))
    by_layer.init_weights()
    assert torch.equal(by_layer[0].fc.weight, torch.full((8, 8), 2.0))


def test_a_seeded_run_makes_user_init_code_reproducible_whatever_the_global_generator() -> None:
    values = []
    for k in range(2):
        torch.manual_seed(100 + k)
        net = torchinit.Sequential(WithOwnInit())
        net.init_weights(seed=4)
        values.append(net[0].fc.weight.detach().clone())
    assert torch.equal(values[0], values[1])
    torch.manual_seed(0)
    other = torchinit.Sequential(WithOwnInit())
    other.init_weights(seed=5)
    assert not torch.equal(other[0].fc.weight, values[0])


class NoReset(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.empty(4))
        self.register_buffer("position_ids", torch.arange(4))

    def _init_weights(self) -> None:
        with torch.no_grad():
            self.scale.fill_(1.0)


def test_materialize_suggests_rules_that_can_fill_what_nothing_covers_and_module_init_covers_it() -> None:
    with torch.device("meta"):
        model = nn.Sequential(NoReset())
    with pytest.raises(torchinit.InitStateError, match=r"ModuleInit', method='_init_weights', layer='NoReset'"):
        materialize(model)
    report = materialize(model, init_cfg=[dict(type="ModuleInit", method="_init_weights", layer="NoReset"),
                                          dict(type="Arange", buffer="position_ids")])
    assert torch.equal(model[0].scale, torch.ones(4)) and torch.equal(model[0].position_ids, torch.arange(4))
    assert report["0.scale"].initializer == "ModuleInit(method=_init_weights)"


def test_module_rules_refuse_what_does_not_apply_to_them() -> None:
    with pytest.raises(ValueError, match="bias/bias_prob do not apply"):
        initialize(Patch(), dict(type="TorchDefault", layer="Linear", bias=1))
    with pytest.raises(TypeError, match="method must be a method name"):
        initialize(Patch(), dict(type="ModuleInit", method="not a name", layer="Linear"))
