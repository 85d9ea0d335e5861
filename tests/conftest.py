"""Shared helpers for the test suite."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def state_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """A deep copy of every parameter and buffer, to prove later that nothing changed."""
    return {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}


def assert_unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    """Every parameter and buffer is bit-identical to ``before`` (same names, same bits)."""
    after = model.state_dict(keep_vars=True)
    assert list(after) == list(before)
    for k, v in before.items():
        assert torch.equal(after[k].detach(), v), f"{k} changed"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
