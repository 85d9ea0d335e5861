"""Structural fills: orthogonal, delta-orthogonal, identity (Dirac, eye), sparse, zeros, ones.

Re-exported by :mod:`torchinit.functional`; import them from there. Like every fill there,
each works in place under ``torch.no_grad()``, returns the tensor it filled, takes the random
generator as the keyword ``generator``, and checks its arguments against the tensor's dtype
and shape (in its ``_<name>_args`` function, which the initializers' ``check_tensor`` calls
too) before it writes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ._core_fills import _check_random_dtype, _check_reach, _normal_args, _real
from .errors import ConfigValueError
from .registry import short_repr

__all__ = ["delta_orthogonal_", "dirac_", "eye_", "ones_", "orthogonal_", "sparse_", "zeros_"]


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 0 (``torch.nn.init.zeros_``)."""
    with torch.no_grad():
        return tensor.zero_()


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with 1 (``torch.nn.init.ones_``)."""
    with torch.no_grad():
        return tensor.fill_(1)


def _check_eye(shape: torch.Size | tuple[int, ...]) -> None:
    if len(shape) != 2:
        raise ConfigValueError(f"eye_ fills a 2-d tensor (a Linear weight), got shape {tuple(shape)}.")


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-d ``tensor`` with the identity: 1 where row == column, 0 elsewhere.

    A Linear layer so filled passes its first ``min(in, out)`` inputs through unchanged
    (``torch.nn.init.eye_``). Any dtype: the identity is copied in from a bool one.

    Example:
        >>> eye_(torch.empty(2, 3))
        tensor([[1., 0., 0.],
                [0., 1., 0.]])
    """
    _check_eye(tensor.shape)
    with torch.no_grad():
        return tensor.copy_(torch.eye(*tensor.shape, dtype=torch.bool, device=tensor.device))


def _dirac_args(shape: torch.Size | tuple[int, ...], groups: Any) -> int:
    """The number of groups ``dirac_`` splits a weight of this shape into."""
    if len(shape) not in (3, 4, 5):
        raise ConfigValueError(
            f"dirac_ fills a 3-, 4- or 5-d conv weight (out, in, *kernel), got shape {tuple(shape)}."
        )
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or shape[0] % groups:
        raise ConfigValueError(
            f"dirac_: groups must be a positive int dividing the {shape[0]} output channels, "
            f"got {short_repr(groups)}."
        )
    return groups


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a conv weight with the Dirac delta: the conv passes its input through unchanged.

    ``W[g·out_per_group + i, i, centre] = 1`` for ``i < min(out_per_group, in)``, every other
    entry 0, where the centre is ``k // 2`` along each kernel dimension
    (``torch.nn.init.dirac_``). With ``groups`` the identity is repeated per group. Used to
    start a residual-free deep net as an identity (Zagoruyko & Komodakis 2017, DiracNets).
    Any dtype: the delta is copied in from a bool one.

    Args:
        groups: the conv's ``groups``; the first dimension is split into this many blocks.

    Example:
        >>> w = dirac_(torch.empty(4, 4, 3, 3))
        >>> float(w.sum()), float(w[1, 1, 1, 1])
        (4.0, 1.0)
    """
    groups = _dirac_args(tensor.shape, groups)
    out_per_group = tensor.size(0) // groups
    n = min(out_per_group, tensor.size(1))
    centre = tuple(k // 2 for k in tensor.shape[2:])
    with torch.no_grad():
        delta = torch.zeros(tensor.shape, dtype=torch.bool, device=tensor.device)
        idx = torch.arange(n, device=tensor.device)
        for g in range(groups if n and delta.numel() else 0):  # an empty weight divides into any groups
            index: tuple[Any, ...] = (g * out_per_group + idx, idx, *centre)
            delta[index] = True
        return tensor.copy_(delta)


def _orthogonal_args(dtype: torch.dtype, shape: torch.Size | tuple[int, ...], gain: Any) -> float:
    """The gain ``orthogonal_`` scales by; every value lies within ``±gain`` (|Q| <= 1)."""
    if len(shape) < 2:
        raise ConfigValueError(
            f"orthogonal_ needs a tensor with at least 2 dimensions, got shape {tuple(shape)}."
        )
    _check_random_dtype("orthogonal_", dtype)
    gain = _real(gain, "gain")
    _check_reach(dtype, -abs(gain), abs(gain), lambda: f"its values reach |gain| = {abs(gain):g}")
    return gain


def orthogonal_(tensor: Tensor, gain: float = 1.0, *, generator: torch.Generator | None = None) -> Tensor:
    """Fill ``tensor`` with a (semi-)orthogonal matrix drawn uniformly (Haar), times ``gain``.

    Saxe et al. (2014), Exact solutions to the nonlinear dynamics of learning in deep linear
    neural networks. The tensor is viewed as ``rows = shape[0]`` by ``cols = numel / rows``;
    ``A ~ N(0, 1)^{rows×cols}`` is QR-factorized (the transpose when rows < cols) and the
    sign of R's diagonal moved into Q, so ``W Wᵀ = gain²·I`` (rows <= cols) or
    ``Wᵀ W = gain²·I`` (rows > cols). The factorization runs in float64.

    Example:
        >>> w = orthogonal_(torch.empty(3, 5))
        >>> bool(torch.allclose(w @ w.T, torch.eye(3), atol=1e-6))
        True
    """
    gain = _orthogonal_args(tensor.dtype, tensor.shape, gain)
    if tensor.numel() == 0 or tensor.is_meta:
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    work = torch.float32 if tensor.device.type == "mps" else torch.float64
    with torch.no_grad():
        a = torch.empty(rows, cols, dtype=work, device=tensor.device).normal_(0.0, 1.0, generator=generator)
        if rows < cols:
            a = a.T
        q, r = torch.linalg.qr(a)
        q = q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0).to(work)
        if rows < cols:
            q = q.T
        return tensor.copy_(q.reshape(tensor.shape).mul_(gain))


def _delta_orthogonal_args(dtype: torch.dtype, shape: torch.Size | tuple[int, ...], gain: Any) -> float:
    if len(shape) not in (3, 4, 5):
        raise ConfigValueError(
            f"delta_orthogonal_ fills a 3-, 4- or 5-d conv weight (out, in, *kernel), got shape {tuple(shape)}."
        )
    out_channels, in_channels = shape[:2]
    if out_channels < in_channels:
        raise ConfigValueError(
            f"delta_orthogonal_ needs out_channels >= in_channels to preserve norms, got a weight of shape "
            f"{tuple(shape)} ({out_channels} < {in_channels}). Use orthogonal_ for it instead."
        )
    return _orthogonal_args(dtype, shape[:2], gain)


def delta_orthogonal_(
    tensor: Tensor, gain: float = 1.0, *, generator: torch.Generator | None = None
) -> Tensor:
    """Fill a conv weight with an orthogonal matrix at the kernel centre and zeros elsewhere.

    Xiao et al. (2018), Dynamical Isometry and a Mean Field Theory of CNNs: How to Train
    10,000-Layer Vanilla Convolutional Neural Networks. ``W[:, :, centre] = gain·Q`` with
    ``Q`` (out × in) from :func:`orthogonal_` (``Qᵀ Q = I``), the centre ``k // 2`` along
    each kernel dimension. A conv so filled, with 'same' padding, maps every input to an
    output of the same norm times ``gain``; it needs ``out_channels >= in_channels``.

    Example:
        >>> w = delta_orthogonal_(torch.empty(8, 4, 3, 3))
        >>> c = w[:, :, 1, 1]
        >>> bool(torch.allclose(c.T @ c, torch.eye(4), atol=1e-6)), float(w[:, :, 0, 0].abs().sum())
        (True, 0.0)
    """
    gain = _delta_orthogonal_args(tensor.dtype, tensor.shape, gain)
    if tensor.numel() == 0 or tensor.is_meta:
        return tensor
    out_channels, in_channels = tensor.shape[:2]
    centre = tuple(k // 2 for k in tensor.shape[2:])
    with torch.no_grad():
        centre_matrix = torch.empty(out_channels, in_channels, dtype=tensor.dtype, device=tensor.device)
        q = orthogonal_(centre_matrix, gain, generator=generator)
        tensor.zero_()
        index: tuple[Any, ...] = (slice(None), slice(None), *centre)
        tensor[index] = q
        return tensor


def _sparse_args(
    dtype: torch.dtype, shape: torch.Size | tuple[int, ...], sparsity: Any, std: Any
) -> tuple[int, float]:
    """``(zeros per column, std)`` of ``sparse_`` on a tensor of this dtype and shape."""
    if len(shape) != 2:
        raise ConfigValueError(f"sparse_ fills a 2-d tensor (a Linear weight), got shape {tuple(shape)}.")
    sparsity = _real(sparsity, "sparsity")
    if not 0 <= sparsity <= 1:
        raise ConfigValueError(
            f"sparse_: sparsity is the fraction of zeros per column, in [0, 1], got {sparsity!r}."
        )
    _, std = _normal_args(dtype, 0.0, std)
    return math.ceil(round(sparsity * shape[0], 9)), std


def sparse_(
    tensor: Tensor, sparsity: float, std: float = 0.01, *, generator: torch.Generator | None = None
) -> Tensor:
    """Fill a 2-d ``tensor`` from N(0, std²), then zero a ``sparsity`` fraction of each column.

    Martens (2010), Deep learning via Hessian-free optimization (``torch.nn.init.sparse_``).
    Each column gets exactly ``⌈sparsity·rows⌉`` zeros at rows drawn uniformly without
    replacement (the count is rounded to 9 digits first, so 0.3 of 10 rows is 3, not 4).

    Example:
        >>> w = sparse_(torch.empty(10, 4), sparsity=0.3)
        >>> (w == 0).sum(dim=0).tolist()
        [3, 3, 3, 3]
    """
    zeros, std = _sparse_args(tensor.dtype, tensor.shape, sparsity, std)
    rows, cols = tensor.shape
    with torch.no_grad():
        tensor.normal_(0.0, std, generator=generator)
        if zeros and tensor.numel() and not tensor.is_meta:
            order = torch.rand(rows, cols, generator=generator, device=tensor.device).argsort(dim=0)
            tensor.scatter_(0, order[:zeros], 0.0)
        return tensor
