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

This file holds the base classes and mmengine's set; the rest of the catalogue (Orthogonal,
Dirac, Eye, Zeros, Ones, Sparse, EmbeddingNormal, VarianceScaling, LeCun, TruncNormalTF,
DeltaOrthogonal, DepthScaledNormal) is in ``_catalogue.py`` and re-exported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from . import _scaling, _trunc_normal
from . import functional as F
from .errors import ConfigError, ConfigTypeError, ConfigValueError, InitWarning
from .registry import Registry, describe_value, exception_text, short_repr

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

WEIGHT_INITIALIZERS = Registry("weight initializer", import_path="torchinit.WEIGHT_INITIALIZERS")


@runtime_checkable
class Initializer(Protocol):
    """What the engine needs from an initializer: fill one tensor in place."""

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor: ...


@contextlib.contextmanager
def _prefixed(owner: str) -> Iterator[None]:
    """Re-raise a ConfigTypeError or ConfigValueError from inside with ``owner: `` in front."""
    try:
        yield
    except (ConfigTypeError, ConfigValueError) as exc:
        raise type(exc)(f"{owner}: {exc}") from None


def _check_number(owner: str, name: str, value: Any) -> float:
    """``value`` as a float, or a ConfigError naming ``owner`` and ``name``: a finite real number."""
    with _prefixed(owner):
        return F._real(value, name)


def _check_choice(owner: str, name: str, value: Any, choices: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigValueError(
            f"{owner}: {name} must be one of {', '.join(repr(c) for c in choices)}, got "
            f"{describe_value(value)}."
        )


@functools.cache
def _number_fields(cls: type) -> tuple[str, ...]:
    """Names of the ``float`` fields of a config class (checked to be numbers)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.type in ("float", float))


@dataclass(frozen=True, kw_only=True)
class FillInit:
    """Base of the fill initializers: numeric fields are checked on construction.

    Subclasses set ``random`` (draws random numbers: needs a floating tensor) and
    ``needs_fan`` (reads fan_in/fan_out: needs at least 2 dimensions).
    """

    random: ClassVar[bool] = True
    needs_fan: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for name in _number_fields(type(self)):  # type: ignore[arg-type]  # mypy checks a class's own __hash__ for the type object
            _check_number(type(self).__name__, name, getattr(self, name))

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError

    def check_tensor(self, tensor: Tensor, where: str) -> None:
        """Raise a ConfigValueError, naming ``where``, if ``fill`` cannot fill ``tensor`` well.

        For every initializer of this package, passing this check means that ``fill`` on
        that tensor does not raise and writes finite values: its layout is dense, its dtype
        one the fill supports, its shape has the dimensions it needs, and every value the
        fill computes is finite in its dtype (see :meth:`check_values`).
        """
        try:
            if tensor.layout != torch.strided or tensor.is_quantized or tensor.is_nested:
                raise ConfigValueError(
                    f"it is a {'quantized' if tensor.is_quantized else tensor.layout} tensor, and fills write "
                    "dense (strided) tensors. Initialize it in your own code."
                )
            if self.random and tensor.dtype not in F.RANDOM_DTYPES:
                raise ConfigValueError(
                    f"it is a {tensor.dtype} tensor and random fills need a floating-point one (float16, "
                    "bfloat16, float32 or float64). Use a Constant rule for it."
                )
            if self.needs_fan:
                F.compute_fans(tensor.shape)
            self.check_values(tensor)
        except ConfigValueError as exc:
            raise ConfigValueError(f"{self.describe()} cannot fill {where}: {exc}") from None

    def check_values(self, tensor: Tensor) -> None:
        """Raise a ConfigValueError (a sentence about the tensor) if ``fill`` would fail on it.

        Each initializer resolves its arguments here with the same function of
        :mod:`torchinit.functional` that its ``fill`` calls, so the two cannot disagree.
        Subclasses of your own may add conditions; the base accepts every tensor.
        """

    def describe(self) -> str:
        """``Name(arg=value, ...)`` with every argument, e.g. ``Normal(mean=0, std=0.01)``."""
        parts = [f"{f.name}={_show(getattr(self, f.name, None))}" for f in dataclasses.fields(self) if f.init]
        return f"{type(self).__name__}({', '.join(parts)})"


def _show(value: Any) -> str:
    """A field value in a description: numbers with ``:g``, strings bare, the rest shortened."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value if len(value) <= 80 else value[:77] + "..."
    return short_repr(value)


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


class BaseInit:
    """Base for initializers written the mmengine way: ``__call__(module)`` walks the module.

    The engine cannot see which tensors such code writes; it calls it where mmengine would
    (on the module that holds the rule, or on an override's submodule with
    ``wholemodule=True``) and records every tensor it changed as set by it.

    Args:
        bias: the constant for biases.
        bias_prob: if given, ``bias = bias_init_with_prob(bias_prob)``.
        layer: class names to act on (read by your ``__call__``).
    """

    def __init__(
        self,
        *,
        bias: float = 0,
        bias_prob: float | None = None,
        layer: str | Sequence[str] | None = None,
    ) -> None:
        owner = type(self).__name__
        _check_number(owner, "bias", bias)
        if bias_prob is not None:
            with _prefixed(f"{owner}: bias_prob"):
                bias = F.bias_init_with_prob(bias_prob)
        if layer is None:
            layer = []
        elif isinstance(layer, str):
            layer = [layer]
        if not isinstance(layer, (list, tuple)) or not all(isinstance(name, str) for name in layer):
            raise ConfigTypeError(
                f"{owner}: layer must be a class name or a list of them, got {describe_value(layer)}."
            )
        self.bias = bias
        self.layer = list(layer)
        self.wholemodule = False

    def __call__(self, module: nn.Module) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


def describe_initializer(init: Any) -> str:
    """A short human name for any initializer object."""
    try:
        describe = getattr(init, "describe", None)
        if callable(describe):
            return str(describe())
        name = getattr(init, "__name__", None)
    except Exception:  # a describe() of your own that raises
        name = None
    return name if isinstance(name, str) and name else type(init).__name__


# The catalogue beyond mmengine's set (torch.nn.init's, JAX's, TensorFlow's, depth-scaled),
# registered on import; it needs the base classes above.
from ._catalogue import (  # noqa: E402
    DeltaOrthogonal,
    DepthScaledNormal,
    Dirac,
    EmbeddingNormal,
    Eye,
    LeCunNormal,
    LeCunUniform,
    Ones,
    Orthogonal,
    Sparse,
    TruncNormalTF,
    VarianceScaling,
    Zeros,
    block_position,
)
from ._buffer_fills import Arange, FromModule  # noqa: E402
from ._module_fills import ModuleInit, SkipInitWeights, TorchDefault  # noqa: E402
