"""apply_default_init: a brick's default_init_cfg() rules filled directly at construction."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchinit.layers import _default_init
from torchinit.layers._default_init import apply_default_init


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3)
        self.norm = nn.BatchNorm2d(4)


def test_each_override_rule_fills_its_submodule_with_mmengines_module_function() -> None:
    block = Block()
    apply_default_init(
        block,
        [
            dict(type="Constant", val=0.5, bias=0.25, override=dict(name="conv")),
            dict(type="Constant", val=2.0, bias=-1.0, override=dict(name="norm")),
        ],
    )
    assert torch.all(block.conv.weight == 0.5) and torch.all(block.conv.bias == 0.25)
    assert torch.all(block.norm.weight == 2.0) and torch.all(block.norm.bias == -1.0)


def test_a_kaiming_rule_takes_its_arguments_from_the_rule() -> None:
    torch.manual_seed(0)
    block = Block()
    block.conv = nn.Conv2d(64, 128, 3)
    apply_default_init(block, [dict(type="Kaiming", mode="fan_in", bias=0.5, override=dict(name="conv"))])
    assert block.conv.weight.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.02)
    assert torch.all(block.conv.bias == 0.5)


@pytest.mark.parametrize(
    "rule",
    [
        dict(type="Constant", val=3.0, layer="Conv2d"),  # a layer rule: the engine's job
        dict(type="Constant", val=3.0, bias_prob=0.01, override=dict(name="conv")),  # not a module function argument
        dict(type="Orthogonal", override=dict(name="conv")),  # no module function
        dict(type="Constant", val=3.0, override=dict(name="conv", type="Constant", val=4.0)),  # its own rule
        dict(type="Constant", val=3.0, override=dict(name="missing")),  # no such submodule yet
    ],
)
def test_rules_of_other_shapes_are_left_to_init_weights(rule: dict) -> None:
    block = Block()
    before = block.conv.weight.detach().clone()
    apply_default_init(block, [rule])
    assert torch.equal(block.conv.weight, before)


def test_nothing_is_filled_on_the_meta_device(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[nn.Module] = []

    def record(module: nn.Module, val: float, bias: float = 0) -> None:  # constant_init's signature
        calls.append(module)

    monkeypatch.setitem(_default_init._MODULE_FILLS, "Constant", record)
    with torch.device("meta"):
        block = Block()
    apply_default_init(block, [dict(type="Constant", val=1.0, override=dict(name="conv"))])
    assert calls == []
    apply_default_init(Block(), [dict(type="Constant", val=1.0, override=dict(name="conv"))])
    assert len(calls) == 1


def test_no_rules_change_nothing() -> None:
    block = Block()
    before = block.conv.weight.detach().clone()
    apply_default_init(block, None)
    apply_default_init(block, [])
    assert torch.equal(block.conv.weight, before)
