"""A plain fill function as an initializer: ``type=fn`` in a rule, ``fn(tensor, **kwargs)``.

:func:`check_function_args` is what :mod:`torchinit.config` checks such a rule with, before
anything runs: the function must take the tensor first and accept the rule's arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .errors import ConfigTypeError
from .registry import _signature, check_kwargs, short_repr

__all__ = ["FunctionInit", "check_function_args", "function_name", "parameter_names"]


@dataclass(frozen=True)
class FunctionInit:
    """A plain fill function used as ``type``: ``fn(tensor, **kwargs, generator=...)``."""

    fn: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    random: bool = True
    needs_fan: bool = False

    def fill(self, tensor: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        with torch.no_grad():
            if "generator" in parameter_names(self.fn):
                self.fn(tensor, **self.kwargs, generator=generator)
            else:
                self.fn(tensor, **self.kwargs)
        return tensor

    def check_tensor(self, tensor: Tensor, where: str) -> None:
        return None

    def describe(self) -> str:
        args = ", ".join(f"{k}={short_repr(v)}" for k, v in self.kwargs.items())
        return f"{function_name(self.fn)}({args})"


def function_name(fn: Any) -> str:
    try:
        name = getattr(fn, "__name__", None)
    except Exception:
        name = None
    return name if isinstance(name, str) else type(fn).__name__


def parameter_names(fn: Callable[..., Any]) -> set[str]:
    signature = _signature(fn)
    return set() if signature is None else set(signature.parameters)


def _signature_text(signature: inspect.Signature) -> str:
    """``(tensor, std=1.0)``, shortened; ``(...)`` when a default cannot be printed."""
    try:
        text = str(signature)
    except Exception:
        return "(...)"
    return text if len(text) <= 120 else text[:116] + "...)"


def check_function_args(fn: Callable[..., Any], kwargs: Mapping[str, Any], where: str) -> None:
    """Raise unless ``fn(tensor, **kwargs)`` binds to ``fn``'s signature (``generator`` is ours).

    A builtin without a readable signature passes: the engine runs it as user code.
    """
    name = function_name(fn)
    if "generator" in kwargs:
        raise ConfigTypeError(
            f"{where}: generator is passed to {name} by the engine (initialize(..., seed=N)); remove it from the rule."
        )
    signature = _signature(fn)
    if signature is None:
        return
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.VAR_POSITIONAL,
    )
    first = next((p for p in signature.parameters.values() if p.kind in positional), None)
    if first is None:
        raise ConfigTypeError(
            f"{where}: the function {name}{_signature_text(signature)} cannot fill a tensor: it must take "
            "the tensor as its first positional argument, e.g. def fill(tensor, std=0.02)."
        )
    check_kwargs(
        fn, kwargs, f"{where}: the function {name} (after the tensor)", skip=(first.name, "generator")
    )
    extra = {"generator": None} if "generator" in signature.parameters else {}
    try:
        signature.bind(None, **kwargs, **extra)
    except TypeError as exc:
        raise ConfigTypeError(
            f"{where}: the function {name}{_signature_text(signature)} cannot be called as {name}(tensor, "
            f"{', '.join(f'{k}=...' for k in kwargs)}): {exc}."
        ) from None
