"""Fills for buffers: what ``position_ids``, ``token_type_ids`` and rotary ``inv_freq`` hold.

Rules reach buffers with ``buffer='position_ids'`` (names or globs, as ``param`` for
parameters). Besides ``Constant``, a buffer usually holds a range or something its module
computes; these two initializers say so. Re-exported by :mod:`torchinit.initializers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from . import functional as F
from ._init_base import WEIGHT_INITIALIZERS, FillInit
from ._values import describe_value, exception_text
from .errors import ConfigTypeError, ConfigValueError

__all__ = ["Arange", "FromModule"]


@WEIGHT_INITIALIZERS.register_module(name="Arange")
@dataclass(frozen=True, kw_only=True)
class Arange(FillInit):
    """``start, start + step, start + 2·step, ...`` along ``dim``, the same along the others.

    What a ``position_ids`` buffer holds (``torch.arange(n).expand((1, -1))`` in Hugging
    Face's BERT, GPT-2, ViT): ``dict(type='Arange', buffer='position_ids')``.

    Args:
        dim: the dimension the range runs along (default the last).
        start: the first value.
        step: the difference between neighbours.
    """

    random: ClassVar[bool] = False
    dim: int = -1
    start: float = 0.0
    step: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.dim, bool) or not isinstance(self.dim, int):
            raise ConfigTypeError(f"Arange: dim must be an int, got {describe_value(self.dim)}.")

    def _length(self, tensor: Tensor) -> int:
        if not -tensor.dim() <= self.dim < max(tensor.dim(), 1) or tensor.dim() == 0:
            raise ConfigValueError(
                f"it has {tensor.dim()} dimensions, so there is no dim={self.dim} to run along."
            )
        return tensor.shape[self.dim]

    def check_values(self, tensor: Tensor) -> None:
        n = self._length(tensor)
        if not (tensor.is_floating_point() or tensor.is_complex()) and (
            float(self.start) != int(self.start) or float(self.step) != int(self.step)
        ):
            raise ConfigValueError(f"it is a {tensor.dtype} tensor: start and step must be whole numbers.")
        for value in (self.start, self.start + self.step * max(n - 1, 0)):
            F._constant_args(tensor.dtype, value)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        n = self._length(tensor)
        dtype = torch.float64 if (tensor.is_floating_point() or tensor.is_complex()) else torch.int64
        values = torch.arange(n, dtype=dtype, device=tensor.device) * self.step + self.start
        shape = [1] * tensor.dim()
        shape[self.dim] = n
        with torch.no_grad():
            return tensor.copy_(values.view(shape).expand_as(tensor))


@WEIGHT_INITIALIZERS.register_module(name="FromModule")
@dataclass(frozen=True, kw_only=True)
class FromModule(FillInit):
    """Copy what ``fn(module)`` computes from the module that holds the tensor.

    For buffers the module derives from its own settings, such as rotary embeddings'
    ``inv_freq = 1 / base ** (arange(0, dim, 2) / dim)``. ``fn`` runs when the plan is
    made, before anything is written (an error there changes nothing), and its result must
    have the tensor's shape (or broadcast to it) and a dtype it can be copied into.

    Args:
        fn: a function of the module, returning a tensor.
    """

    random: ClassVar[bool] = False
    fn: Callable[[nn.Module], Any]
    value: Tensor | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not callable(self.fn):
            raise ConfigTypeError(
                f"FromModule: fn must be a function of the module, got {describe_value(self.fn)}."
            )

    def specialize(self, name: str, root: nn.Module) -> FromModule:
        """This initializer with ``fn`` evaluated on the module holding the tensor ``name``."""
        owner_name = name.rpartition(".")[0]
        owner = root.get_submodule(owner_name) if owner_name else root
        try:
            value = self.fn(owner)
        except Exception as exc:  # noqa: BLE001 (user code: reported as a config error, nothing written)
            raise ConfigValueError(
                f"{self.describe()} on {owner_name or 'the root'} ({type(owner).__name__}) raised "
                f"{exception_text(exc)}; nothing was changed."
            ) from exc
        if not isinstance(value, Tensor):
            raise ConfigTypeError(f"{self.describe()} must return a tensor, got {describe_value(value)}.")
        return replace(self, value=value.detach())

    def check_values(self, tensor: Tensor) -> None:
        if self.value is None:
            raise ConfigValueError(
                "it is filled through a rule only (the module is needed to compute the value)."
            )
        try:
            torch.broadcast_shapes(tuple(self.value.shape), tuple(tensor.shape))
            if torch.broadcast_shapes(tuple(self.value.shape), tuple(tensor.shape)) != tuple(tensor.shape):
                raise RuntimeError
        except RuntimeError:
            raise ConfigValueError(
                f"fn returned shape {tuple(self.value.shape)}, which does not fit the tensor's shape "
                f"{tuple(tensor.shape)}."
            ) from None
        if (self.value.is_complex() and not tensor.is_complex()) or (
            self.value.is_floating_point() and not (tensor.is_floating_point() or tensor.is_complex())
        ):
            raise ConfigValueError(
                f"fn returned {self.value.dtype} values, which a {tensor.dtype} tensor cannot hold."
            )

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        if self.value is None:
            raise ConfigValueError(f"{self.describe()} is filled through a rule only.")
        with torch.no_grad():
            return tensor.copy_(self.value.to(device=tensor.device, dtype=tensor.dtype).expand_as(tensor))

    def describe(self) -> str:
        return f"FromModule(fn={getattr(self.fn, '__qualname__', None) or type(self.fn).__name__})"
