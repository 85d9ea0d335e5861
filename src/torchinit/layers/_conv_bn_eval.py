"""A convolution and the eval-mode batch norm after it, run as one convolution.

In eval mode a batch norm is a fixed affine map per channel,
``y = gamma · (x - running_mean) / sqrt(running_var + eps) + beta``, so it can be folded
into the convolution before it: the weight of output channel ``c`` is scaled by
``s_c = gamma_c / sqrt(running_var_c + eps)`` and the bias becomes
``beta_c + s_c · (bias_c - running_mean_c)``. The output is the same as conv then norm, one
activation tensor smaller, and gradients still reach the conv and the norm's ``gamma`` and
``beta`` (Huang et al., 2023, Tune-Mode ConvBN Blocks For Efficient Transfer Learning,
arXiv:2305.11624). mmcv 2.x's ``ConvModule(efficient_conv_bn_eval=True)`` does this.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

__all__ = ["can_fold", "conv_bn_eval_forward"]


def can_fold(conv: nn.Module, bn: nn.Module | None) -> bool:
    """Whether ``bn`` can be folded into ``conv``: a non-transposed conv and a batch norm with running stats."""
    return (
        isinstance(conv, _ConvNd)
        and not conv.transposed
        and hasattr(conv, "_conv_forward")
        and isinstance(bn, _BatchNorm)
        and bn.track_running_stats
        and bn.running_mean is not None
        and bn.running_var is not None
    )


def conv_bn_eval_forward(bn: _BatchNorm, conv: _ConvNd, x: Tensor) -> Tensor:
    """``bn(conv(x))`` for a batch norm in eval mode, computed as one convolution.

    Example:
        >>> conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4).eval()
        >>> x = torch.randn(1, 3, 5, 5)
        >>> torch.allclose(conv_bn_eval_forward(bn, conv, x), bn(conv(x)), atol=1e-6)
        True
    """
    assert bn.running_mean is not None and bn.running_var is not None  # checked by can_fold
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    bias = bn.running_mean.neg() if conv.bias is None else conv.bias - bn.running_mean
    bias = scale * bias
    if bn.bias is not None:
        bias = bias + bn.bias
    weight = conv.weight * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    return conv._conv_forward(x, weight, bias)
