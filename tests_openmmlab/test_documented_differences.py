"""Each README row the model tests rely on explains a difference it should, and only that one.

Small models built from mmengine's BaseModule and mmcv's ConvModule show each documented
difference on purpose; the same pipeline as the real models (``_observe``, ``_compare``,
``_differences``) must find the difference in the default mode, explain it by the right row,
and find nothing in ``compat='mmengine'``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from torch import nn

import _differences
from _compare import Mismatch, compare, expectations
from _observe import MMEngineSide, Pristine, TorchinitRun, observe_mmengine, observe_torchinit
from openmmlab_models import Case


def _neck_with_a_direct_convmodule() -> nn.Module:
    from mmcv.cnn import ConvModule
    from mmengine.model import BaseModule

    class Neck(BaseModule):
        def __init__(self) -> None:
            super().__init__(init_cfg=dict(type="Xavier", layer="Conv2d", distribution="uniform"))
            self.conv = ConvModule(32, 64, 3, norm_cfg=dict(type="BN"))

    return Neck()


def _blocks_in_a_plain_list() -> nn.Module:
    from mmengine.model import BaseModule

    class Block(BaseModule):
        def __init__(self) -> None:
            super().__init__(init_cfg=dict(type="Normal", layer="Linear", std=0.5))
            self.fc = nn.Linear(256, 256)

    class Net(BaseModule):
        def __init__(self) -> None:
            super().__init__(init_cfg=dict(type="Constant", layer="Linear", val=0.0))
            self.blocks = nn.ModuleList([Block(), Block()])

    return Net()


@dataclass
class Seen:
    mm: MMEngineSide
    default: TorchinitRun
    differ: list[Mismatch]
    differ_in_compat: list[Mismatch]


def _observe(make: Callable[[], nn.Module]) -> Seen:
    pristine = Pristine(Case("synthetic", f"{make.__name__}.py", "toy"), [], make())
    mm = observe_mmengine(pristine)
    runs = observe_torchinit(pristine)
    expected = expectations(mm)
    return Seen(mm, runs["default"], compare(runs["default"].values, mm, expected),
                compare(runs["compat=mmengine"].values, mm, expected))


@pytest.mark.parametrize(("make", "row", "tensors"), [
    (_neck_with_a_direct_convmodule, "ConvModule's default (Kaiming / 1-0), torchinit's and mmcv's own",
     {"conv.conv.weight"}),
    (_blocks_in_a_plain_list, "BaseModules (and mmcv's ConvModule) inside plain `nn.Sequential`/`nn.ModuleList`",
     {"blocks.0.fc.weight", "blocks.1.fc.weight"}),
])
def test_the_default_mode_differs_where_the_readme_row_says_and_compat_does_not(
        make: Callable[[], nn.Module], row: str, tensors: set[str]) -> None:
    seen = _observe(make)
    assert {m.name for m in seen.differ} == tensors
    explained = [_differences.explain("synthetic", m, seen.mm, seen.default) for m in seen.differ]
    assert all(e is not None and e.row == row for e in explained), explained
    assert seen.differ_in_compat == []


def test_a_difference_whose_values_break_the_reported_rule_is_not_explained() -> None:
    """The row needs evidence: torchinit's values must keep the law its report names."""
    seen = _observe(_neck_with_a_direct_convmodule)
    (mismatch,) = [m for m in seen.differ if m.name == "conv.conv.weight"]
    assert _differences.explain("synthetic", mismatch, seen.mm, seen.default) is not None
    seen.default.values["conv.conv.weight"].mul_(3.0)  # still "Xavier" in the report, but no longer its law
    assert _differences.explain("synthetic", mismatch, seen.mm, seen.default) is None
