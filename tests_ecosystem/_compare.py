"""One model against its library: a preset applied to it, tensor by tensor, against the
library's own init of the same model.

The library's init (what the constructor leaves) is the reference. A copy of the model is
scrambled (every parameter and buffer set far from any scheme's values) and initialized
with the preset alone. Then, for every tensor:

* the preset covers it (a rule set it, nothing is left as built);
* our values keep the promise of the rule that set them, and so do the library's values
  for the same tensor (:func:`torchinit.health_check` with our report on the reference:
  mean and std within six standard errors for the tensor's size, ranges, constants and
  exact values equal, structure such as padding rows);
* where both are drawn (at least 64 values), a two-sample Kolmogorov-Smirnov test at 1e-4
  says they come from one distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from torchinit import InitReport, health_check, initialize
from torchinit.diagnostics._promises import promise_of

KS_LEVEL = 1e-4
KS_MIN = 64


def tensors(model: nn.Module) -> dict[str, Tensor]:
    """Every parameter and buffer by name (tied ones once)."""
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def scramble(model: nn.Module) -> None:
    """Every tensor far from what any scheme writes: floats 3 + U(0, 1), integers 7."""
    gen = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for t in tensors(model).values():
            if t.is_floating_point():
                t.copy_(3 + torch.rand(t.shape, generator=gen, dtype=t.dtype))
            else:
                t.fill_(7)


def ks(a: Tensor, b: Tensor) -> tuple[float, float]:
    """The two-sample KS statistic of ``a`` and ``b`` and its critical value at KS_LEVEL."""
    x, y = (np.sort(t.detach().double().numpy().ravel()) for t in (a, b))
    grid = np.concatenate([x, y])
    d = np.abs(np.searchsorted(x, grid, side="right") / x.size - np.searchsorted(y, grid, side="right") / y.size).max()
    return float(d), math.sqrt(-0.5 * math.log(KS_LEVEL / 2)) * math.sqrt((x.size + y.size) / (x.size * y.size))


@dataclass
class Comparison:
    """What differs between the preset's model and the library's (empty lists: the same)."""

    report: InitReport
    tensors: int
    uncovered: list[str] = field(default_factory=list)
    ours: list[str] = field(default_factory=list)
    library: list[str] = field(default_factory=list)
    distribution: list[str] = field(default_factory=list)
    unpromised: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [*self.uncovered, *self.ours, *self.library, *self.distribution]


def compare(reference: nn.Module, ours: nn.Module, cfg: list[dict], seed: int = 0) -> Comparison:
    """Scramble ``ours``, initialize it with ``cfg`` and compare every tensor with ``reference``."""
    scramble(ours)
    report = initialize(ours, cfg, seed=seed)
    return judge(reference, ours, report)


def judge(reference: nn.Module, ours: nn.Module, report: InitReport) -> Comparison:
    """Compare every tensor of ``ours`` (initialized, ``report``) with ``reference``'s."""
    mine, theirs = tensors(ours), tensors(reference)
    assert mine.keys() == theirs.keys(), "the two builds differ in their tensors"
    result = Comparison(report, len(mine))
    modules = dict(ours.named_modules())
    for name in mine:
        record = report[name]
        if record.source == "none":
            result.uncovered.append(f"{name}: no rule of the preset covers it")
            continue
        promise = promise_of(record, modules.get(name.rpartition(".")[0]))
        if promise is None:
            result.unpromised.append(name)
    result.ours = [f"ours {f}" for f in health_check(ours, report).findings]
    result.library = [f"library {f}" for f in health_check(reference, report).findings]
    for name, value in mine.items():
        ref = theirs[name].detach()
        value = value.detach()
        if not value.is_floating_point() or bool((ref == ref.flatten()[0]).all()):
            continue
        drawn, drawn_ref = value[value != 0], ref[ref != 0]
        if min(drawn.numel(), drawn_ref.numel()) < KS_MIN:  # too few for the test (zeros: the health check)
            continue
        d, critical = ks(drawn, drawn_ref)
        if d >= critical:
            result.distribution.append(f"{name}: KS {d:.4f} >= {critical:.4f} ({report[name].describe()})")
    return result
