"""What every initializer is built on: the registry, the protocol and the base classes.

:class:`FillInit` (a frozen config class that fills one tensor; numeric fields checked on
construction), :class:`BaseInit` (an mmengine-style initializer that walks a module itself),
``WEIGHT_INITIALIZERS``, and the argument checks the initializers share. The registered
initializers are in ``initializers.py`` (mmengine's set), ``_catalogue.py`` and
``_catalogue_jax.py``, ``_buffer_fills.py`` and ``_module_fills.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from . import functional as F
from .errors import ConfigTypeError, ConfigValueError
from .registry import Registry, describe_value, short_repr

#: The modules that define torchinit's own initializers. Their fills and checks read only the
#: tensor's type, shape, dtype and layout and the initializer's fields: the planner checks one
#: such initializer once per kind of tensor, and the transaction trusts their fills not to fail
#: late (see :mod:`torchinit._planner`, :mod:`torchinit._txn`).
OWN_MODULES = (
    "torchinit._init_base",
    "torchinit.initializers",
    "torchinit._catalogue",
    "torchinit._catalogue_jax",
    "torchinit._buffer_fills",
)

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


def _check_dims(tensor: Tensor, dims: tuple[int, ...], what: str, fix: str) -> None:
    if tensor.dim() not in dims:
        raise ConfigValueError(
            f"it fills {what}, and this tensor has {tensor.dim()} dimension{'s' if tensor.dim() != 1 else ''}. {fix}"
        )


def _check_int(owner: str, name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigTypeError(f"{owner}: {name} must be an int, got {describe_value(value)}.")
    if value < minimum:
        raise ConfigValueError(f"{owner}: {name} must be >= {minimum}, got {short_repr(value)}.")


def _check_std(owner: str, std: float) -> None:
    if std < 0:
        raise ConfigValueError(f"{owner}: std must be >= 0, got {std!r}.")


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
