"""Rules about a module's own init code: run a method of it, or do not run its init_weights.

* ``dict(type='TorchDefault', layer='Linear')``: PyTorch's default, each matched layer's
  ``reset_parameters()`` (what a fresh ``nn.Linear`` holds), as a rule with its precedence
  and provenance: timm leaves patch embeddings and heads at it.
* ``dict(type='ModuleInit', method='_init_weights', layer='Block')``: any method of the
  matched modules that initializes them.
* ``dict(type='SkipInitWeights', layer='VisionTransformer')``: the matched modules'
  own ``init_weights`` code is not run; their tensors get the rules instead, as any module's.

The methods run as the rule's code at its place in the order (under the transaction's
guard: deferred, atomic, seeded by the run's seed), so a later rule that covers a tensor
still wins. ``override=dict(name=...)`` works as for any rule (the whole named submodule).
Re-exported by :mod:`torchinit.initializers`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from torch import nn

from ._init_base import WEIGHT_INITIALIZERS, BaseInit
from .errors import ConfigTypeError, ConfigValueError, InitWarning
from .registry import describe_value

__all__ = ["ModuleInit", "SkipInitWeights", "TorchDefault", "matches_layer"]


def matches_layer(module: nn.Module, layer: Sequence[str]) -> bool:
    """Does ``module``'s class (or a class it derives from) have one of these names?"""
    return any(cls.__name__ in layer for cls in type(module).__mro__)


@WEIGHT_INITIALIZERS.register_module(name="ModuleInit")
class ModuleInit(BaseInit):
    """Run ``method()`` of every matched module (``layer``, or the whole ``override`` target).

    Args:
        method: the name of the module's method that initializes it.
        layer: class names of the modules to run it on (their subclasses too).
    """

    def __init__(
        self,
        *,
        method: str = "reset_parameters",
        layer: str | Sequence[str] | None = None,
        bias: float = 0,
        bias_prob: float | None = None,
    ) -> None:
        super().__init__(layer=layer)
        if bias != 0 or bias_prob is not None:
            raise ConfigValueError(
                f"{type(self).__name__} runs the module's own code: bias/bias_prob do not apply."
            )
        if not isinstance(method, str) or not method.isidentifier():
            raise ConfigTypeError(
                f"{type(self).__name__}: method must be a method name, got {describe_value(method)}."
            )
        self.method = method

    def targets(self, module: nn.Module) -> list[tuple[str, nn.Module]]:
        """The modules under ``module`` whose method this rule runs."""
        return [
            (name, m)
            for name, m in module.named_modules()
            if (self.wholemodule or matches_layer(m, self.layer)) and callable(getattr(m, self.method, None))
        ]

    def __call__(self, module: nn.Module) -> None:
        found = self.targets(module)
        if not found and (self.layer or self.wholemodule):  # an override-only rule runs on its targets
            where = "the named submodule" if self.wholemodule else f"layer={self.layer!r}"
            warnings.warn(
                f"{self.describe()}: no module of {where} under {type(module).__name__} has a "
                f"{self.method}() method; nothing was run.",
                InitWarning,
                stacklevel=2,
            )
        for _, m in found:
            getattr(m, self.method)()

    def describe(self) -> str:
        return f"ModuleInit(method={self.method})"


@WEIGHT_INITIALIZERS.register_module(name="TorchDefault")
class TorchDefault(ModuleInit):
    """PyTorch's default init of each matched layer: its ``reset_parameters()``."""

    def __init__(
        self, *, layer: str | Sequence[str] | None = None, bias: float = 0, bias_prob: float | None = None
    ) -> None:
        super().__init__(method="reset_parameters", layer=layer, bias=bias, bias_prob=bias_prob)

    def describe(self) -> str:
        return "TorchDefault(reset_parameters)"


@WEIGHT_INITIALIZERS.register_module(name="SkipInitWeights")
class SkipInitWeights(BaseInit):
    """Do not run the ``init_weights`` code of the matched modules (``layer`` or ``override``).

    Their tensors are then planned like any module's: the rules that cover them, or
    nothing. For a third-party model whose own init a config replaces.
    """

    def __init__(
        self, *, layer: str | Sequence[str] | None = None, bias: float = 0, bias_prob: float | None = None
    ) -> None:
        super().__init__(layer=layer)
        if bias != 0 or bias_prob is not None:
            raise ConfigValueError("SkipInitWeights fills nothing: bias/bias_prob do not apply.")

    def __call__(self, module: nn.Module) -> Any:
        return None  # the planner reads it; there is nothing to run

    def describe(self) -> str:
        return "SkipInitWeights()"
