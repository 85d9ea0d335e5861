"""The activation probe: does the initialization keep the signal alive through depth?

:func:`probe_activations` runs one forward pass with a hook on every leaf module and records
the mean and std of each output, in the order the layers ran. A well-initialized network
keeps the std roughly level; one that shrinks by orders of magnitude (vanishing) or grows
(exploding) through depth, or produces NaN, is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigTypeError, ConfigValueError
from ..module import unwrap_model
from ..registry import describe_value

__all__ = ["ActivationProbe", "LayerActivation", "probe_activations"]

VANISHING = 1e-3  # an output std below this fraction of the input's is reported
EXPLODING = 1e3  # and one above this multiple


@dataclass
class LayerActivation:
    """One call of one leaf module: the statistics of its output.

    Attributes:
        name: qualified module name.
        type: its class name.
        call: which call of this module it was (a shared head runs once per level).
        shape: the output shape.
        mean: mean of the output.
        std: std of the output (0 for a single value); NaN when it holds NaN or Inf.
    """

    name: str
    type: str
    call: int
    shape: tuple[int, ...]
    mean: float
    std: float


@dataclass
class ActivationProbe:
    """The layers in the order they ran, and what looks wrong."""

    input_shape: tuple[int, ...]
    input_std: float  # 0 for integer inputs (token ids): the first layer's std is the reference then
    layers: list[LayerActivation] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Layers whose output holds NaN/Inf, or whose std vanished or exploded vs the input."""
        found = []
        ref = self.input_std or (self.layers[0].std if self.layers else 0.0)  # token ids: the embedding's
        for layer in self.layers:
            where = f"{layer.name} ({layer.type})" + (f" call {layer.call + 1}" if layer.call else "")
            if not math.isfinite(layer.std) or not math.isfinite(layer.mean):
                found.append(f"{where}: output holds NaN or Inf")
            elif ref > 0 and layer.std < VANISHING * ref:
                found.append(f"{where}: output std {layer.std:.3g} vanished (input std {ref:.3g})")
            elif ref > 0 and layer.std > EXPLODING * ref:
                found.append(f"{where}: output std {layer.std:.3g} exploded (input std {ref:.3g})")
        return found

    @property
    def ok(self) -> bool:
        """No layer produced NaN or Inf."""
        return all(math.isfinite(x.std) and math.isfinite(x.mean) for x in self.layers)

    def summary(self) -> str:
        """One line: how the std changed from the input to the last layer, and its extremes."""
        if not self.layers:
            return "no leaf module produced a tensor"
        finite = [x for x in self.layers if math.isfinite(x.std)]
        start = (
            f"std {self.input_std:.3g} at the input," if self.input_std else "integer ids at the input, std"
        )
        last = self.layers[-1]
        text = f"{len(self.layers)} layer outputs; {start} {last.std:.3g} after {last.name}"
        if finite:
            low = min(finite, key=lambda x: x.std)
            high = max(finite, key=lambda x: x.std)
            text += f"; lowest {low.std:.3g} ({low.name}), highest {high.std:.3g} ({high.name})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "input_std": self.input_std,
            "summary": self.summary(),
            "problems": self.problems(),
            "layers": [asdict(x) for x in self.layers],
        }


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules() if not m._modules and name]


def _random_input(
    shape: Sequence[int], dtype: torch.dtype, high: int | None, seed: int, device: torch.device
) -> Tensor:
    if not shape or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ConfigValueError(
            f"input_shape must be positive sizes like (1, 3, 224, 224), got {tuple(shape)!r}."
        )
    gen = torch.Generator().manual_seed(seed)
    if dtype.is_floating_point:
        return torch.randn(tuple(shape), generator=gen).to(device=device, dtype=dtype)
    if high is None or high < 1:
        raise ConfigValueError(
            f"an integer input (dtype {dtype}) needs high >= 1: the values are drawn from [0, high), "
            "e.g. the "
            "vocabulary size."
        )
    return torch.randint(0, high, tuple(shape), generator=gen).to(device=device, dtype=dtype)


def probe_activations(
    model: nn.Module,
    inputs: Tensor | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    dtype: torch.dtype = torch.float32,
    high: int | None = None,
    seed: int = 0,
    train: bool = False,
    on_layer: Callable[[LayerActivation], None] | None = None,
) -> ActivationProbe:
    """Forward one batch through ``model`` and record every leaf module's output statistics.

    Args:
        model: the (initialized) model; its train/eval mode is restored afterwards.
        inputs: the batch; by default a random one of ``input_shape``.
        input_shape: shape of the random batch, e.g. ``(1, 3, 224, 224)``.
        dtype: its dtype; an integer dtype draws token ids from ``[0, high)``.
        high: the upper bound for integer inputs (the vocabulary size).
        seed: seed of the random batch.
        train: run in training mode (BatchNorm uses the batch statistics) instead of eval.
        on_layer: called after each recorded output (for progress display).

    Returns:
        The outputs in the order the layers ran; ``problems()`` lists the layers whose signal
        vanished, exploded or became NaN.

    Example:
        >>> net = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
        >>> probe = probe_activations(net, input_shape=(8, 16))
        >>> [x.name for x in probe.layers]
        ['0', '1', '2']
    """
    if not isinstance(model, nn.Module):
        raise ConfigTypeError(f"probe_activations() needs an nn.Module, got {describe_value(model)}.")
    model = unwrap_model(model)
    if inputs is None:
        if input_shape is None:
            raise ConfigValueError(
                "probe_activations() needs inputs or input_shape, e.g. input_shape=(1, 3, 224, 224)."
            )
        first = next(iter([*model.parameters(), *model.buffers()]), None)
        device = first.device if first is not None else torch.device("cpu")
        inputs = _random_input(list(input_shape), dtype, high, seed, device)
    result = ActivationProbe(tuple(inputs.shape), _std(inputs) if inputs.is_floating_point() else 0.0)
    calls: dict[str, int] = {}

    def hook(name: str, module: nn.Module, out: Any) -> None:
        if not isinstance(out, Tensor) or not (out.is_floating_point() or out.is_complex()):
            return
        call = calls.get(name, 0)
        calls[name] = call + 1
        values = out.detach().float() if out.is_floating_point() else out.detach().abs().float()
        record = LayerActivation(
            name,
            type(module).__name__,
            call,
            tuple(out.shape),
            float(values.mean()) if values.numel() else 0.0,
            _std(values),
        )
        result.layers.append(record)
        if on_layer is not None:
            on_layer(record)

    handles = [
        m.register_forward_hook(lambda mod, _i, out, n=name: hook(n, mod, out)) for name, m in _leaves(model)
    ]
    was_training = model.training
    try:
        model.train(train)
        with torch.no_grad():
            model(inputs)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return result


def _std(values: Tensor) -> float:
    if values.numel() < 2:
        return 0.0
    if not bool(torch.isfinite(values).all()):
        return math.nan
    return float(values.float().std())
