"""How the walk enters a child: the planner's shortcut for plain layers changes nothing.

A plain layer or container (no init owner, no registered default, no ``init_weights`` or
``is_init`` of its class) with neither name on the instance is entered without asking
``has_user_init_weights``/``get_is_init`` (``Planner.plain_of``, ``_module_attrs.bare_instance``).
Each test builds the same model twice, breaks one of those conditions on a child, and
checks that a run with the shortcut and one without it end the same: the same values, the
same report, the same ``is_init`` flags, or the same error.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from torchinit import BaseModule, InitApplyError
from torchinit._planner import Planner


class Leaf(BaseModule):
    """An init owner inside a plain block: a flag on the block hides its rules."""

    def __init__(self) -> None:
        super().__init__(init_cfg=dict(type="Constant", layer="Linear", val=5))
        self.fc = nn.Linear(3, 3)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.leaf = Leaf()


class Net(BaseModule):
    def __init__(self) -> None:
        super().__init__(
            init_cfg=[
                dict(type="Kaiming", layer="Conv2d"),
                dict(type="Constant", layer="BatchNorm2d", val=2, bias=1),
            ]
        )
        self.first = Block()
        self.stages = nn.Sequential(Block(), Block())
        self.head = nn.Conv2d(3, 4, 1)


def _fill_conv_with_7(block: nn.Module) -> Callable[..., None]:
    def init_weights(**kwargs: Any) -> None:
        with torch.no_grad():
            block.conv.weight.fill_(7.0)

    return init_weights


def _is_init_attr(net: Net) -> None:
    net.stages[0].is_init = True


def _is_init_buffer(net: Net) -> None:
    net.stages[1].register_buffer("is_init", torch.tensor(True))


def _init_weights_on_instance(net: Net) -> None:
    net.first.init_weights = _fill_conv_with_7(net.first)


def _init_weights_child(net: Net) -> None:
    net.stages[0].add_module("init_weights", nn.Identity())  # a module is callable


def _init_weights_on_class(net: Net) -> None:
    cls = type("PatchedBlock", (Block,), {})  # a class of its own: nothing else sees the patch
    net.first.__class__ = cls
    Planner(net, "torchinit").plain_of(cls)  # a first look, before the class changes
    cls.init_weights = lambda self, **kwargs: _fill_conv_with_7(self)()


def _is_init_on_class(net: Net) -> None:
    net.stages[1].__class__ = type("FlaggedBlock", (Block,), {"is_init": True})


def _custom_getattr(net: Net) -> None:
    def getattr_(self: nn.Module, name: str) -> Any:
        if name == "is_init":
            return True
        return nn.Module.__getattr__(self, name)

    net.stages[0].__class__ = type("LookupBlock", (Block,), {"__getattr__": getattr_})


BREAKS = [
    _is_init_attr,
    _is_init_buffer,
    _init_weights_on_instance,
    _init_weights_child,
    _init_weights_on_class,
    _is_init_on_class,
    _custom_getattr,
]


def _outcome(net: Net, compat: str) -> Any:
    try:
        report = net.init_weights(seed=0, compat=compat)
    except Exception as exc:  # the same error either way is the same outcome
        return ("raised", type(exc), str(exc))
    records = [(r.name, r.source, r.initializer, r.owner, r.role) for r in report]
    values = {k: v.clone() for k, v in net.state_dict().items()}
    flags = {n: getattr(m, "is_init", None) for n, m in net.named_modules() if isinstance(m, BaseModule)}
    return records, values, flags


@pytest.mark.parametrize("compat", ["torchinit", "mmengine"])
@pytest.mark.parametrize("break_", BREAKS, ids=lambda f: f.__name__.strip("_"))
def test_the_plain_layer_shortcut_gives_the_outcome_of_the_full_checks(
    break_: Callable[[Net], None], compat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)
    twin = copy.deepcopy(net)
    break_(net)
    break_(twin)
    fast = _outcome(net, compat)
    monkeypatch.setattr(Planner, "plain_of", lambda self, cls: False)
    slow = _outcome(twin, compat)
    if fast[0] == "raised":
        assert fast == slow
        return
    assert fast[0] == slow[0] and fast[2] == slow[2]
    assert fast[1].keys() == slow[1].keys()
    for key, value in fast[1].items():
        assert torch.equal(value, slow[1][key]), key


def test_an_init_weights_set_on_a_plain_layer_is_called() -> None:
    net = Net()
    _init_weights_on_instance(net)
    report = net.init_weights(seed=0)
    assert torch.all(net.first.conv.weight == 7)
    assert report["first.conv.weight"].source == "user"


def test_an_init_weights_put_on_a_plain_class_after_a_plan_is_called() -> None:
    net = Net()
    _init_weights_on_class(net)
    net.init_weights(seed=0)
    assert torch.all(net.first.conv.weight == 7)


def test_a_plain_layer_flagged_is_init_is_skipped_as_mmengine_skips_it() -> None:
    net = Net()
    net.stages[0].is_init = True
    net.stages[0].init_weights = lambda **kwargs: pytest.fail("a child flagged is_init is not called")
    net.init_weights(seed=0)
    assert torch.all(net.stages[1].leaf.fc.weight == 5)  # the rules of an owner it holds are not reached
    assert not torch.all(net.stages[0].leaf.fc.weight == 5)


def test_a_submodule_named_init_weights_counts_as_init_code_as_getattr_finds_it() -> None:
    net = Net()
    _init_weights_child(net)
    with pytest.raises((InitApplyError, TypeError)):
        net.init_weights(seed=0)
