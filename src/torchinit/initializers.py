"""The registered initializers: one small frozen config class each.

An initializer only says *how to fill one tensor*. Which modules and parameters a rule
reaches (``layer``, ``override``), what the bias gets (``bias``, ``bias_prob``), ordering and
provenance are the engine's job, written once in :mod:`torchinit.engine`.

To add your own, register a frozen dataclass with a ``fill`` method::

    @WEIGHT_INITIALIZERS.register_module()
    @dataclass(frozen=True, kw_only=True)
    class Scaled(FillInit):
        factor: float = 0.1
        def fill(self, tensor, *, generator=None):
            return normal_(tensor, 0.0, self.factor, generator=generator)

Initializers written for mmengine (a :class:`BaseInit` subclass whose ``__call__(module)``
walks the module itself) keep working: the engine runs them where mmengine would and
records them as that initializer.

This file holds mmengine's set (Constant, Xavier, Normal, TruncNormal, Uniform, Kaiming,
Caffe2Xavier, Pretrained) and torch's Zeros and Ones; the base classes are in
``_init_base.py``, and the rest of the catalogue, re-exported here, in ``_catalogue.py``
(Orthogonal, Dirac, Eye, Sparse, EmbeddingNormal, DepthScaledNormal), ``_catalogue_jax.py``
(VarianceScaling, LeCun, TruncNormalTF, DeltaOrthogonal), ``_buffer_fills.py`` (Arange,
FromModule) and ``_module_fills.py`` (ModuleInit, SkipInitWeights, TorchDefault).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor

from . import _scaling, _trunc_normal
from . import functional as F
from ._buffer_fills import Arange, FromModule
from ._catalogue import (
    DepthScaledNormal,
    Dirac,
    EmbeddingNormal,
    Eye,
    Orthogonal,
    Sparse,
    block_position,
)
from ._catalogue_jax import DeltaOrthogonal, LeCunNormal, LeCunUniform, TruncNormalTF, VarianceScaling
from ._init_base import (
    WEIGHT_INITIALIZERS,
    BaseInit,
    FillInit,
    Initializer,
    _check_choice,
    _check_number,
    _prefixed,
)
from ._init_base import describe_initializer as describe_initializer  # used from here by other modules
from ._module_fills import ModuleInit, SkipInitWeights, TorchDefault
from ._values import describe_value, exception_text
from .errors import ConfigError, ConfigTypeError, ConfigValueError, InitWarning

__all__ = [
    "Arange",
    "BaseInit",
    "Caffe2Xavier",
    "Constant",
    "DeltaOrthogonal",
    "DepthScaledNormal",
    "Dirac",
    "EmbeddingNormal",
    "Eye",
    "FillInit",
    "FromModule",
    "Initializer",
    "Kaiming",
    "LeCunNormal",
    "LeCunUniform",
    "ModuleInit",
    "Normal",
    "Ones",
    "Orthogonal",
    "Pretrained",
    "SkipInitWeights",
    "Sparse",
    "TorchDefault",
    "TruncNormal",
    "TruncNormalTF",
    "Uniform",
    "VarianceScaling",
    "WEIGHT_INITIALIZERS",
    "Xavier",
    "Zeros",
    "block_position",
]

# TruncNormal warns when its bounds are this many standard deviations out (mass beyond: 2e-9).
_CUTS_NOTHING = 6.0


@WEIGHT_INITIALIZERS.register_module(name="Constant")
@dataclass(frozen=True, kw_only=True)
class Constant(FillInit):
    """Fill with ``val``."""

    random: ClassVar[bool] = False
    val: float

    def check_values(self, tensor: Tensor) -> None:
        F._constant_args(tensor.dtype, self.val)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.constant_(tensor, self.val)


@WEIGHT_INITIALIZERS.register_module(name="Xavier")
@dataclass(frozen=True, kw_only=True)
class Xavier(FillInit):
    """Glorot & Bengio (2010); see :func:`torchinit.functional.xavier_`."""

    needs_fan: ClassVar[bool] = True
    gain: float = 1.0
    distribution: str = "normal"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("Xavier", "distribution", self.distribution, F.DISTRIBUTIONS)

    def check_values(self, tensor: Tensor) -> None:
        _scaling._xavier_args(tensor.dtype, tensor.shape, self.gain, self.distribution)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.xavier_(tensor, self.gain, self.distribution, generator=generator)  # type: ignore[arg-type]


@WEIGHT_INITIALIZERS.register_module(name="Normal")
@dataclass(frozen=True, kw_only=True)
class Normal(FillInit):
    """N(mean, std²)."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.std < 0:
            raise ConfigValueError(f"Normal: std must be >= 0, got {self.std!r}.")

    def check_values(self, tensor: Tensor) -> None:
        F._normal_args(tensor.dtype, self.mean, self.std)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.normal_(tensor, self.mean, self.std, generator=generator)


@WEIGHT_INITIALIZERS.register_module(name="TruncNormal")
@dataclass(frozen=True, kw_only=True)
class TruncNormal(FillInit):
    """N(mean, std²) cut to the *absolute* range [a, b] (mmengine's convention).

    With ``std=0.02`` the default ``[-2, 2]`` lies 100 standard deviations out and cuts
    nothing: mmengine configs rely on that, so the defaults stay silent. Bounds given
    otherwise that read like standard deviations (``a < 0 < b``) but lie 6 or more of them
    from the mean warn (:class:`~torchinit.InitWarning`): ``TruncNormal(std=0.02, a=-3, b=3)``
    was probably meant as ``TruncNormalTF(std=0.02, a=-3, b=3)``. A mean more than 2 std
    outside ``[a, b]`` warns as ``torch.nn.init.trunc_normal_`` and mmengine do (the values
    are drawn exactly all the same).
    """

    mean: float = 0.0
    std: float = 1.0
    a: float = -2.0
    b: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.std < 0:
            raise ConfigValueError(f"TruncNormal: std must be >= 0, got {self.std!r}.")
        if not self.a < self.b:
            raise ConfigValueError(f"TruncNormal: needs a < b, got a={self.a!r}, b={self.b!r}.")
        if (
            (self.a, self.b) != (-2.0, 2.0)
            and self.std > 0
            and self.a < 0 < self.b
            and min(self.mean - self.a, self.b - self.mean) >= _CUTS_NOTHING * self.std
        ):
            far = min(self.mean - self.a, self.b - self.mean) / self.std
            warnings.warn(
                f"{self.describe()}: a and b are absolute values, {far:.3g} standard deviations from the mean, "
                f"so nothing is truncated. For bounds in standard deviations use "
                f"TruncNormalTF(mean={self.mean:g}, std={self.std:g}, a={self.a:g}, b={self.b:g}); for no "
                f"truncation, Normal(mean={self.mean:g}, std={self.std:g}).",
                InitWarning,
                stacklevel=3,
            )
        _trunc_normal._warn_if_mean_is_far(
            float(self.mean), float(self.std), float(self.a), float(self.b), stacklevel=3
        )

    def check_values(self, tensor: Tensor) -> None:
        _trunc_normal._trunc_normal_args(tensor.dtype, self.mean, self.std, self.a, self.b)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        plan = _trunc_normal._trunc_normal_args(tensor.dtype, self.mean, self.std, self.a, self.b)
        return _trunc_normal._trunc_normal_fill(
            tensor, plan, generator
        )  # warned on construction, not per tensor


@WEIGHT_INITIALIZERS.register_module(name="Uniform")
@dataclass(frozen=True, kw_only=True)
class Uniform(FillInit):
    """U(a, b)."""

    a: float = 0.0
    b: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.a > self.b:
            raise ConfigValueError(f"Uniform: needs a <= b, got a={self.a!r}, b={self.b!r}.")

    def check_values(self, tensor: Tensor) -> None:
        F._uniform_args(tensor.dtype, self.a, self.b)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.uniform_(tensor, self.a, self.b, generator=generator)


@WEIGHT_INITIALIZERS.register_module(name="Kaiming")
@dataclass(frozen=True, kw_only=True)
class Kaiming(FillInit):
    """He et al. (2015); see :func:`torchinit.functional.kaiming_` (mmengine defaults)."""

    needs_fan: ClassVar[bool] = True
    a: float = 0.0
    mode: str = "fan_out"
    nonlinearity: str = "relu"
    distribution: str = "normal"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("Kaiming", "mode", self.mode, ("fan_in", "fan_out"))
        _check_choice("Kaiming", "distribution", self.distribution, F.DISTRIBUTIONS)
        with _prefixed("Kaiming"):
            F.calculate_gain(self.nonlinearity, self.a)

    def check_values(self, tensor: Tensor) -> None:
        _scaling._kaiming_args(
            tensor.dtype, tensor.shape, self.a, self.mode, self.nonlinearity, self.distribution
        )

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.kaiming_(
            tensor,
            self.a,
            self.mode,  # type: ignore[arg-type]  # a str checked in __post_init__
            self.nonlinearity,
            self.distribution,  # type: ignore[arg-type]  # a str checked in __post_init__
            generator=generator,
        )


@WEIGHT_INITIALIZERS.register_module(name="Caffe2Xavier")
@dataclass(frozen=True, kw_only=True)
class Caffe2Xavier(FillInit):
    """Caffe2's Xavier: U(±√(3/fan_in)); see :func:`torchinit.functional.caffe2_xavier_`."""

    needs_fan: ClassVar[bool] = True

    def check_values(self, tensor: Tensor) -> None:
        _scaling._kaiming_args(tensor.dtype, tensor.shape, *_scaling.CAFFE2_XAVIER)

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return F.caffe2_xavier_(tensor, generator=generator)


@WEIGHT_INITIALIZERS.register_module(name="Pretrained")
@dataclass(frozen=True, kw_only=True)
class Pretrained:
    """Load weights from a checkpoint (path, URL or ``scheme://name``).

    The checkpoint is read and checked when the plan is made, before any weight changes;
    parameters it does not fill (missing or shape-mismatched keys) keep the rule they would
    get without it. See :func:`torchinit.load_checkpoint` for the sources.

    Args:
        checkpoint: where the weights are: a path, ``file://``, ``http(s)://``,
            ``torchvision://NAME``, ``open-mmlab://NAME`` or a registered scheme.
        prefix: take only keys under ``prefix.`` and strip it (``'backbone'``).
        map_location: device the tensors are read onto.
        revise_keys: ``(pattern, replacement)`` pairs applied with ``re.sub``, in order, to
            every checkpoint key before ``prefix``; the default strips DDP's ``module.``.
        strict: fail unless every key of the module and of the (prefixed) checkpoint
            matches with the same shape.
        min_loaded: fail unless at least this fraction (0 to 1) of the module's parameter
            elements is loaded: ``0.9`` catches a backbone that silently did not load.
        use_ema: load the checkpoint's EMA weights (``state_dict_ema``, ``ema_state_dict``).
        allow_pickle: let the file run pickle code. Only for files you trust; off by
            default, and no environment variable turns it on.
        timeout: seconds a download may stall (default ``$TORCHINIT_DOWNLOAD_TIMEOUT`` or 60).
        deadline: seconds a whole download may take (default ``$TORCHINIT_DOWNLOAD_DEADLINE``
            or one hour).
    """

    checkpoint: str | os.PathLike[str]
    prefix: str | None = None
    map_location: str | torch.device | None = "cpu"
    revise_keys: tuple[tuple[str, str], ...] = ((r"^module\.", ""),)
    strict: bool = False
    min_loaded: float | None = None
    use_ema: bool = False
    allow_pickle: bool = False
    timeout: float | None = None
    deadline: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.checkpoint, (str, os.PathLike)):
            raise ConfigTypeError(
                f"Pretrained: checkpoint must be a path or URL string, got {describe_value(self.checkpoint)}."
            )
        if self.prefix is not None and not isinstance(self.prefix, str):
            raise ConfigTypeError(
                f"Pretrained: prefix must be a str or None, got {describe_value(self.prefix)}."
            )
        if self.prefix is not None and not self.prefix.strip("."):
            raise ConfigValueError(
                f"Pretrained: prefix must name a submodule ('backbone'), got {self.prefix!r}; "
                "use None for no prefix."
            )
        if self.map_location is not None and not isinstance(self.map_location, (str, torch.device)):
            raise ConfigTypeError(
                f"Pretrained: map_location must be a device string ('cpu', 'cuda:0'), a torch.device or "
                f"None, got {describe_value(self.map_location)}."
            )
        for name in ("strict", "use_ema", "allow_pickle"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigTypeError(
                    f"Pretrained: {name} must be True or False, got {describe_value(getattr(self, name))}."
                )
        if self.min_loaded is not None:
            _check_number("Pretrained", "min_loaded", self.min_loaded)
            if not 0 <= self.min_loaded <= 1:
                raise ConfigValueError(
                    f"Pretrained: min_loaded is a fraction of the parameters and must be in [0, 1], "
                    f"got {self.min_loaded!r}."
                )
        from .checkpoint._download import resolve_deadline, resolve_timeout
        from .checkpoint._state_dict import check_revise_keys

        with _prefixed("Pretrained"):
            if self.timeout is not None:
                resolve_timeout(self.timeout)
            if self.deadline is not None:
                resolve_deadline(self.deadline)

        try:
            with _prefixed("Pretrained"):
                compiled = check_revise_keys(self.revise_keys)
        except ConfigError:
            raise
        except Exception as exc:  # an iterable that raises, a pattern re cannot compile
            raise ConfigValueError(
                f"Pretrained: revise_keys could not be read: {exception_text(exc)}"
            ) from exc
        object.__setattr__(self, "revise_keys", tuple((p.pattern, r) for p, r in compiled))

    def describe(self) -> str:
        extra = f", prefix={self.prefix!r}" if self.prefix else ""
        for f in dataclasses.fields(self):
            if f.name not in ("checkpoint", "prefix", "map_location") and getattr(self, f.name) != f.default:
                extra += f", {f.name}={getattr(self, f.name)!r}"
        return f"Pretrained({os.fspath(self.checkpoint)!r}{extra})"


@WEIGHT_INITIALIZERS.register_module(name="Zeros")
@dataclass(frozen=True, kw_only=True)
class Zeros(Constant):
    """Fill with 0: ``Constant(val=0)`` by its torch name (``torch.nn.init.zeros_``)."""

    val: float = field(default=0.0, init=False)


@WEIGHT_INITIALIZERS.register_module(name="Ones")
@dataclass(frozen=True, kw_only=True)
class Ones(Constant):
    """Fill with 1: ``Constant(val=1)`` by its torch name (``torch.nn.init.ones_``)."""

    val: float = field(default=1.0, init=False)
