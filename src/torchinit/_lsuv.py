"""LSUV: data-dependent initialization that gives every layer's output unit variance."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ._fills import orthogonal_
from .errors import ConfigTypeError, ConfigValueError, InitWarning
from .registry import describe_value

__all__ = ["lsuv_init"]

Batch = Tensor | Sequence[Any] | Mapping[str, Any]
LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class _Reached(Exception):
    """Raised by the hook on the layer being measured: the rest of the forward is not needed."""

    def __init__(self, output: Any) -> None:
        super().__init__()
        self.output = output


def _bias(layer: nn.Module) -> Tensor | None:
    bias = getattr(layer, "bias", None)
    return bias if isinstance(bias, Tensor) else None


def _forward(model: nn.Module, batch: Batch) -> None:
    try:
        if isinstance(batch, Tensor):
            model(batch)
        elif isinstance(batch, Mapping):
            model(**batch)
        else:
            model(*batch)
    finally:
        _reshard(model)


def _reshard(model: nn.Module) -> None:
    """Put FSDP2's sharded parameters back in place after a forward (one stopped by a hook
    included), so that the weights written next are the sharded ones."""
    for m in model.modules():
        if type(m).__name__.startswith("FSDP") and callable(getattr(m, "reshard", None)):
            m.reshard()  # type: ignore[operator]  # callable, checked above


def _check_args(tol: Any, max_iter: Any, layers: Any) -> tuple[type[nn.Module], ...]:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)):
        raise ConfigTypeError(f"lsuv_init: tol must be a number, got {describe_value(tol)}.")
    if not 0 < tol < 1:
        raise ConfigValueError(f"lsuv_init: tol is the allowed |variance - 1|, in (0, 1), got {tol!r}.")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int):
        raise ConfigTypeError(f"lsuv_init: max_iter must be an int, got {describe_value(max_iter)}.")
    if max_iter < 1:
        raise ConfigValueError(f"lsuv_init: max_iter must be >= 1, got {max_iter!r}.")
    classes = None
    if isinstance(layers, type):
        classes = (layers,)
    elif isinstance(layers, (list, tuple)):
        classes = tuple(layers)
    if not classes or not all(isinstance(c, type) and issubclass(c, nn.Module) for c in classes):
        raise ConfigTypeError(
            f"lsuv_init: layers must be an nn.Module class or a tuple of them (nn.Linear, nn.Conv2d), "
            f"got {describe_value(layers)}."
        )
    return classes


def _output_variance(model: nn.Module, layer: nn.Module, batch: Batch, name: str) -> float:
    def hook(module: nn.Module, args: Any, output: Any) -> None:
        raise _Reached(output)

    handle = layer.register_forward_hook(hook)
    try:
        _forward(model, batch)
    except _Reached as reached:
        output = reached.output
    else:  # pragma: no cover - the layer ran in the ordering pass
        raise AssertionError(f"{name} did not run")
    finally:
        handle.remove()
    if not isinstance(output, Tensor):
        raise ConfigTypeError(
            f"lsuv_init: {name} returned {describe_value(output)}, not a tensor; leave its class out "
            "of layers."
        )
    return float(output.detach().double().var(unbiased=False))


def lsuv_init(
    model: nn.Module,
    batch: Batch,
    *,
    tol: float = 0.1,
    max_iter: int = 10,
    layers: type[nn.Module] | tuple[type[nn.Module], ...] = LAYERS,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Layer-sequential unit-variance init: orthonormal weights rescaled until outputs have variance 1.

    Mishkin & Matas (2016), All you need is a good init. For every ``layers`` module that
    the forward pass of ``batch`` runs (the others are left as they are, with a warning):

    1. pre-initialize: weight from :func:`~torchinit.functional.orthogonal_`, bias 0;
    2. in the order the forward pass reaches them: measure the variance ``v`` of the
       layer's output on ``batch`` and divide its weight by ``√v``, until ``|v − 1| < tol``
       or ``max_iter`` rescalings (then warn). Each layer is measured with the earlier
       ones already rescaled; the forward stops at the layer measured.

    The model runs in eval mode under no-grad (BatchNorm statistics and dropout stay as
    they are; training flags are restored). If anything fails, every weight and bias is
    restored.

    Args:
        model: the network; called as ``model(batch)``, ``model(*batch)`` for a tuple or
            list, ``model(**batch)`` for a mapping.
        batch: a representative batch (a few hundred samples).
        tol: how far from 1 the output variance may stay.
        max_iter: the most rescalings per layer.
        layers: the module classes to initialize.
        generator: the random generator of the orthonormal pre-initialization. Required for
            a sharded model (DTensor weights, e.g. FSDP2): seeded the same on every rank,
            which all pass the same ``batch``; each rank keeps its part of the same matrix.

    Returns:
        Each initialized layer's qualified name and its output standard deviation on
        ``batch`` after the last rescaling, in forward order.

    Example:
        >>> net = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))
        >>> stds = lsuv_init(net, torch.randn(256, 32))
        >>> all(abs(s * s - 1) < 0.1 for s in stds.values())
        True
    """
    classes = _check_args(tol, max_iter, layers)
    targets = {
        id(m): (name, m)
        for name, m in model.named_modules()
        if isinstance(m, classes) and isinstance(getattr(m, "weight", None), Tensor)
    }
    if not targets:
        raise ConfigValueError(
            f"lsuv_init: {type(model).__name__} has no {' or '.join(c.__name__ for c in classes)} with a "
            "weight; pass the classes to initialize as layers=(...)."
        )
    meta = [name for name, m in targets.values() if m.weight.is_meta]
    if meta:
        raise ConfigValueError(
            f"lsuv_init needs real tensors, and {meta[0]} is on the meta device: materialize first."
        )
    saved = {
        key: (m.weight.detach().clone(), _bias(m) if _bias(m) is None else _bias(m).detach().clone())  # type: ignore[union-attr, operator]
        for key, (_, m) in targets.items()
    }
    modes = {m: m.training for m in model.modules()}
    try:
        with torch.no_grad():
            model.eval()
            order = _forward_order(model, batch, targets)
            unreached = [name for key, (name, _) in targets.items() if key not in order]
            if unreached:
                warnings.warn(
                    f"lsuv_init: the forward pass never ran {', '.join(unreached)}; left as they were.",
                    InitWarning,
                    stacklevel=2,
                )
            for key in order:
                layer = targets[key][1]
                _orthogonal(layer.weight, generator)  # type: ignore[arg-type]  # a weight tensor
                if (bias := _bias(layer)) is not None:
                    bias.zero_()
            return {targets[key][0]: _rescale(model, batch, *targets[key], tol, max_iter) for key in order}
    except BaseException:
        with torch.no_grad():
            for key, (weight, bias) in saved.items():
                layer = targets[key][1]
                layer.weight.copy_(weight)  # type: ignore[operator]  # nn.Module attributes are typed Tensor | Module
                if bias is not None:
                    _bias(layer).copy_(bias)  # type: ignore[union-attr]  # it had one when saved
        raise
    finally:
        for m, training in modes.items():
            m.training = training


def _orthogonal(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    """The orthonormal start; a sharded weight gets its part of the same whole matrix on every
    rank (drawn whole from ``generator``, which must then be seeded alike on every rank)."""
    from .distributed import sharded

    if not sharded.is_sharded(weight):
        orthogonal_(weight, generator=generator)
        return
    if generator is None:
        raise ConfigValueError(
            "lsuv_init on a sharded model needs generator=torch.Generator().manual_seed(N), seeded the same on "
            "every rank, so that every rank draws the same orthonormal matrix and keeps its part. Give every "
            "rank the same batch too: the rescaling follows the measured variance."
        )
    full = torch.empty(weight.shape, dtype=weight.dtype)
    orthogonal_(full, generator=generator)
    sharded.copy_value(weight, full)


def _forward_order(model: nn.Module, batch: Batch, targets: dict[int, tuple[str, nn.Module]]) -> list[int]:
    order: list[int] = []

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        if id(module) not in order:
            order.append(id(module))

    handles = [m.register_forward_hook(hook) for _, m in targets.values()]
    try:
        _forward(model, batch)
    finally:
        for h in handles:
            h.remove()
    return order


def _rescale(model: nn.Module, batch: Batch, name: str, layer: nn.Module, tol: float, max_iter: int) -> float:
    for step in range(max_iter + 1):
        var = _output_variance(model, layer, batch, name)
        if abs(var - 1) < tol:
            break
        if not (math.isfinite(var) and var > 0):
            warnings.warn(
                f"lsuv_init: the output of {name} has variance {var!r} on this batch and cannot be rescaled; "
                "left orthonormal.",
                InitWarning,
                stacklevel=3,
            )
            break
        if step == max_iter:
            warnings.warn(
                f"lsuv_init: the output variance of {name} is {var:.4g} after {max_iter} rescalings, "
                f"not within {tol} of 1.",
                InitWarning,
                stacklevel=3,
            )
            break
        layer.weight.mul_(var**-0.5)  # type: ignore[operator]  # nn.Module attributes are typed Tensor | Module
    return math.sqrt(var)
