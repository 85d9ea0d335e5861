"""JAX's and TensorFlow's initializers: variance scaling, LeCun, the TF truncated normal and
delta-orthogonal; written like those of ``_catalogue.py`` and re-exported by
:mod:`torchinit.initializers`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from . import _fills, _scaling, _trunc_normal
from . import functional as F
from ._init_base import (
    WEIGHT_INITIALIZERS,
    FillInit,
    _check_choice,
    _check_dims,
    _check_std,
    _prefixed,
)
from .errors import ConfigTypeError, ConfigValueError
from .registry import describe_value

__all__ = ["DeltaOrthogonal", "LeCunNormal", "LeCunUniform", "TruncNormalTF", "VarianceScaling"]


# --------------------------------------------------------------------------- variance scaling (JAX)
@WEIGHT_INITIALIZERS.register_module(name="VarianceScaling")
@dataclass(frozen=True, kw_only=True)
class VarianceScaling(FillInit):
    """Zero-mean values of variance ``scale / fan``: JAX's (and Flax's) ``variance_scaling``.

    See :func:`torchinit.functional.variance_scaling_`. The defaults are JAX's.

    Args:
        scale: the variance times the fan (``gain²``: 2 for relu).
        mode: which fan: ``'fan_in'``, ``'fan_out'``, ``'fan_avg'`` or ``'fan_geo_avg'``.
        distribution: ``'truncated_normal'`` (cut at ±2 std, std corrected), ``'normal'``
            or ``'uniform'``.
    """

    needs_fan: ClassVar[bool] = True
    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "truncated_normal"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scale < 0:
            raise ConfigValueError(f"VarianceScaling: scale must be >= 0, got {self.scale!r}.")
        _check_choice("VarianceScaling", "mode", self.mode, F.FAN_MODES)
        _check_choice("VarianceScaling", "distribution", self.distribution, F.SCALING_DISTRIBUTIONS)

    def check_values(self, tensor: Tensor) -> None:
        _scaling._variance_scaling_args(tensor.dtype, tensor.shape, self.scale, self.mode, self.distribution)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.variance_scaling_(
            tensor,
            self.scale,
            self.mode,  # type: ignore[arg-type]  # a str checked in __post_init__
            self.distribution,  # type: ignore[arg-type]
            generator=generator,
        )


@WEIGHT_INITIALIZERS.register_module(name="LeCunNormal")
@dataclass(frozen=True, kw_only=True)
class LeCunNormal(FillInit):
    """Variance 1/fan_in, truncated normal (LeCun et al. 1998).

    See :func:`torchinit.functional.lecun_normal_`.
    """

    needs_fan: ClassVar[bool] = True

    def check_values(self, tensor: Tensor) -> None:
        _scaling._variance_scaling_args(tensor.dtype, tensor.shape, *_scaling.LECUN_NORMAL)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.lecun_normal_(tensor, generator=generator)


@WEIGHT_INITIALIZERS.register_module(name="LeCunUniform")
@dataclass(frozen=True, kw_only=True)
class LeCunUniform(FillInit):
    """Variance 1/fan_in, uniform (LeCun et al. 1998).

    See :func:`torchinit.functional.lecun_uniform_`.
    """

    needs_fan: ClassVar[bool] = True

    def check_values(self, tensor: Tensor) -> None:
        _scaling._variance_scaling_args(tensor.dtype, tensor.shape, *_scaling.LECUN_UNIFORM)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.lecun_uniform_(tensor, generator=generator)


@WEIGHT_INITIALIZERS.register_module(name="TruncNormalTF")
@dataclass(frozen=True, kw_only=True)
class TruncNormalTF(FillInit):
    """N(mean, std²) cut at ``a`` and ``b`` *standard deviations* (TensorFlow's, timm's ``_tf``).

    See :func:`torchinit.functional.trunc_normal_tf_`. ``TruncNormalTF(std=0.02)`` cuts at
    ±0.04, where ``TruncNormal(std=0.02)`` (absolute bounds ±2) cuts nothing.

    Args:
        mean: the centre.
        std: the standard deviation of the normal before it is cut.
        a, b: the bounds, in standard deviations from ``mean``.
        corrected: divide ``std`` by the shrink factor of the cut, so that the values
            themselves have standard deviation ``std`` (as JAX's truncated normal does).
    """

    mean: float = 0.0
    std: float = 1.0
    a: float = -2.0
    b: float = 2.0
    corrected: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_std("TruncNormalTF", self.std)
        if not self.a < self.b:
            raise ConfigValueError(
                f"TruncNormalTF: needs a < b (in standard deviations), got a={self.a!r}, b={self.b!r}."
            )
        if not isinstance(self.corrected, bool):
            raise ConfigTypeError(
                f"TruncNormalTF: corrected must be True or False, got {describe_value(self.corrected)}."
            )
        if self.corrected:
            with _prefixed("TruncNormalTF: corrected=True"):
                F.truncated_normal_std(self.a, self.b)

    def check_values(self, tensor: Tensor) -> None:
        _trunc_normal._trunc_normal_tf_args(tensor.dtype, self.mean, self.std, self.a, self.b, self.corrected)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.trunc_normal_tf_(
            tensor, self.mean, self.std, self.a, self.b, corrected=self.corrected, generator=generator
        )


@WEIGHT_INITIALIZERS.register_module(name="DeltaOrthogonal")
@dataclass(frozen=True, kw_only=True)
class DeltaOrthogonal(FillInit):
    """An orthogonal kernel centre, zeros elsewhere (Xiao et al. 2018).

    See :func:`torchinit.functional.delta_orthogonal_`; needs ``out_channels >= in_channels``.
    """

    gain: float = 1.0

    def check_values(self, tensor: Tensor) -> None:
        _check_dims(tensor, (3, 4, 5), "conv weights (3 to 5 dimensions)", "Use Orthogonal for it.")
        if tensor.size(0) < tensor.size(1):
            raise ConfigValueError(
                f"it has fewer output ({tensor.size(0)}) than input ({tensor.size(1)}) channels, so no kernel "
                "centre is norm-preserving. Use Orthogonal for it."
            )
        _fills._delta_orthogonal_args(tensor.dtype, tensor.shape, self.gain)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.delta_orthogonal_(tensor, self.gain, generator=generator)
