"""conv_bn_eval_forward: a conv and the eval-mode batch norm after it, as one convolution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from torchinit.layers._conv_bn_eval import can_fold, conv_bn_eval_forward

GEN = torch.Generator().manual_seed(0)


def with_stats(bn: nn.modules.batchnorm._BatchNorm) -> nn.modules.batchnorm._BatchNorm:
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1, generator=GEN)
        bn.running_var.uniform_(0.5, 2, generator=GEN)
        if bn.affine:
            bn.weight.uniform_(0.5, 2, generator=GEN)
            bn.bias.uniform_(-1, 1, generator=GEN)
    return bn.eval()


@pytest.mark.parametrize(
    ("conv", "bn", "shape"),
    [
        (nn.Conv1d(3, 4, 3), nn.BatchNorm1d(4), (2, 3, 7)),
        (nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), (2, 3, 6, 6)),
        (nn.Conv2d(4, 4, 3, groups=2, stride=2, padding=1), nn.BatchNorm2d(4, affine=False), (2, 4, 6, 6)),
        (nn.Conv3d(3, 4, 2), nn.BatchNorm3d(4), (1, 3, 4, 4, 4)),
    ],
)
def test_the_folded_conv_gives_bn_of_conv(conv: nn.Module, bn: nn.Module, shape: tuple[int, ...]) -> None:
    bn = with_stats(bn)
    x = torch.randn(*shape, generator=GEN)
    assert can_fold(conv, bn)
    assert torch.allclose(conv_bn_eval_forward(bn, conv, x), bn(conv(x)), atol=1e-5)


@pytest.mark.parametrize(
    ("conv", "norm"),
    [
        (nn.ConvTranspose2d(3, 4, 3), nn.BatchNorm2d(4)),  # weight is (in, out, ...): no per-output fold
        (nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4)),
        (nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False)),
        (nn.Linear(3, 4), nn.BatchNorm1d(4)),
    ],
)
def test_pairs_that_cannot_be_folded_are_recognized(conv: nn.Module, norm: nn.Module) -> None:
    assert not can_fold(conv, norm)
