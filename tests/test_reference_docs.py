"""Examples from ../shared/reference/ not covered in the per-module test files, each with the
outcome the document states (or, where SPEC.md says the document is wrong, the real one)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from torchinit import BaseModule, initialize, kaiming_init, normal_init, xavier_init


class FooNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.feat = nn.Conv1d(3, 1, 3)
        self.reg = nn.Conv2d(3, 3, 3)
        self.cls = nn.Linear(1, 2)


# --------------------------------------------------------------------------- mmdet tutorial
def test_mmdet_override_example_leaves_the_linear_cls_to_pytorch_as_spec_says() -> None:
    # The tutorial claims cls (a Linear) gets dict(type='Constant', val=1, bias=2); it is not
    # in layer=['Conv1d', 'Conv2d'] and is not named by the override, so it keeps its values.
    model = FooNet()
    before = model.cls.weight.detach().clone()
    init_cfg = dict(type="Constant", layer=["Conv1d", "Conv2d"], val=1, bias=2,
                    override=dict(type="Constant", name="reg", val=3, bias=4))
    initialize(model, init_cfg)
    assert torch.equal(model.cls.weight, before)
    assert bool(torch.all(model.feat.weight == 1)) and bool(torch.all(model.feat.bias == 2))
    assert bool(torch.all(model.reg.weight == 3)) and bool(torch.all(model.reg.bias == 4))


# --------------------------------------------------------------------------- mmengine zh doc
class ToyNet(BaseModule):
    def __init__(self, init_cfg: object = None) -> None:
        super().__init__(init_cfg)
        self.conv1 = nn.Linear(1, 1)


def test_zh_pretrained_example_loads_the_saved_weights(tmp_path: Path) -> None:
    toy_net = ToyNet()
    path = tmp_path / "pretrained.pth"
    torch.save(toy_net.state_dict(), path)
    loaded = ToyNet(init_cfg=dict(type="Pretrained", checkpoint=str(path)))
    report = loaded.init_weights()
    assert torch.equal(loaded.conv1.weight, toy_net.conv1.weight)
    assert torch.equal(loaded.conv1.bias, toy_net.conv1.bias)
    assert report is not None and report["conv1.weight"].source == "pretrained"


def test_zh_pretrained_has_the_highest_priority_over_other_rules(tmp_path: Path) -> None:
    toy_net = ToyNet()
    path = tmp_path / "pretrained.pth"
    torch.save(toy_net.state_dict(), path)
    loaded = ToyNet(init_cfg=[dict(type="Pretrained", checkpoint=str(path)),
                              dict(type="Constant", layer="Linear", val=5)])
    loaded.init_weights()
    assert torch.equal(loaded.conv1.weight, toy_net.conv1.weight)


def test_zh_functional_examples_initialize_a_whole_conv_in_one_call() -> None:
    model = nn.Conv2d(1, 1, 1)
    normal_init(model, mean=0, std=0.01, bias=0)
    assert float(model.bias.detach()) == 0.0
    conv = nn.Conv2d(16, 32, 3)
    kaiming_init(conv)
    assert abs(float(conv.weight.detach().std()) - math.sqrt(2 / (32 * 9))) < 0.02
    xavier_init(conv)
    assert abs(float(conv.weight.detach().std()) - math.sqrt(2 / (16 * 9 + 32 * 9))) < 0.01


def test_init_weights_logs_through_the_torchinit_logger_and_prints_nothing(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    net = ToyNet(init_cfg=[dict(type="Kaiming", layer="Linear")])
    with caplog.at_level(logging.DEBUG, logger="torchinit"):
        net.init_weights()
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and r.name == "torchinit"]
    assert any(m.startswith("Kaiming(") and "1 module, 2 tensors" in m for m in infos)
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("conv1.weight" in m for m in debug)


# --------------------------------------------------------------------------- fine-tune blog (zh)
class FPNDefault(BaseModule):
    """The blog's FPN signature: init_cfg defaults to Xavier uniform on Conv2d."""

    def __init__(self, init_cfg: object = dict(type="Xavier", layer="Conv2d", distribution="uniform")) -> None:
        super().__init__(init_cfg=init_cfg)
        self.lateral = nn.ModuleList([nn.Conv2d(64, 32, 1), nn.Conv2d(128, 32, 1)])
        self.fpn = nn.Conv2d(32, 32, 3)


def test_blog_fpn_default_init_cfg_gives_xavier_uniform_within_its_bound() -> None:
    neck = FPNDefault()
    neck.init_weights()
    bound = math.sqrt(6 / (32 * 9 + 32 * 9))
    w = neck.fpn.weight.detach()
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    assert bool(torch.all(neck.fpn.bias == 0))
    assert all(bool(torch.all(m.bias == 0)) for m in neck.lateral)
