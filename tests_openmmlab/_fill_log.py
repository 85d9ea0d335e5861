"""Which fill last wrote each tensor, observed while a model is built and initialized by mmengine.

mmengine's ``_params_init_info`` names the initializer class for rule-set tensors, but only
"user-defined init_weights in X" for code a model runs itself, and nothing for buffers or for
what the constructor drew. To know the law of *every* tensor, :func:`record_fills` wraps the
fill functions that all of these end in (``torch.nn.init.*``, which mmengine's module functions,
its initializer classes, ``nn.Conv2d.reset_parameters`` and the models' own ``init_weights`` call
through the module attribute, and mmengine's ``_no_grad_trunc_normal_``) for the duration of a
``with`` block, and records per tensor storage the outermost call and a fingerprint of the
values it left. :meth:`FillLog.law_of` then returns that call's law only if the tensor still
holds exactly what the call wrote (a later ``.data.copy_()`` or ``mul_()`` voids it).

The wrappers are observers (they call the original and return its result); they are removed
when the block ends, before torchinit is adopted.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

import _dists as D

__all__ = ["FillLog", "record_fills"]

_Key = tuple[int, int, tuple[int, ...], tuple[int, ...]]


def _key(tensor: torch.Tensor) -> _Key:
    storage = tensor.untyped_storage().data_ptr()
    return (storage, tensor.storage_offset(), tuple(tensor.shape), tuple(tensor.stride()))


def _fingerprint(tensor: torch.Tensor) -> float:
    """The sum of the values: equal for the same bits (the reduction order is fixed), changed by a write."""
    with torch.no_grad():
        return float(tensor.detach().sum())


@dataclass
class _Call:
    law: D.Dist | None
    text: str
    fingerprint: float


@dataclass
class FillLog:
    """The last recorded fill per tensor storage (see the module docstring)."""

    calls: dict[_Key, _Call] = field(default_factory=dict)

    def law_of(self, tensor: torch.Tensor) -> tuple[D.Dist | None, str]:
        """``(law, text)`` of the last fill if the tensor still holds its result, else ``(None, why)``."""
        call = self.calls.get(_key(tensor))
        if call is None:
            return None, "no recorded fill"
        if _fingerprint(tensor) != call.fingerprint:
            return None, f"changed after {call.text}"
        if call.law is None:
            return None, f"{call.text} (no closed-form law)"
        return call.law, call.text


def _law(name: str, args: dict[str, Any], shape: tuple[int, ...]) -> D.Dist | None:
    """The law of ``torch.nn.init.<name>(**args)`` (or mmengine's truncated normal) on ``shape``."""
    if name == "uniform_":
        return D.uniform(float(args["a"]), float(args["b"]))
    if name == "normal_":
        mean, std = float(args["mean"]), float(args["std"])
        return D.constant(mean) if std == 0 else D.normal(mean, std)
    if name in ("trunc_normal_", "_no_grad_trunc_normal_"):
        return D.truncated_normal(float(args["mean"]), float(args["std"]), float(args["a"]), float(args["b"]))
    if name == "constant_":
        return D.constant(float(args["val"]))
    if name == "ones_":
        return D.constant(1.0)
    if name == "zeros_":
        return D.constant(0.0)
    if name in ("xavier_uniform_", "xavier_normal_"):
        return D.xavier(shape, float(args["gain"]), name.split("_")[1])
    if name in ("kaiming_uniform_", "kaiming_normal_"):
        return D.kaiming(shape, float(args["a"]), args["mode"], args["nonlinearity"], name.split("_")[1])
    return None  # orthogonal_, eye_, dirac_, sparse_: deterministic or without a simple law


_INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
                   "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "eye_", "dirac_",
                   "sparse_")


@contextlib.contextmanager
def record_fills() -> Iterator[FillLog]:
    """Record every outermost fill call made inside the block (single-threaded use)."""
    import mmengine.model.weight_init as mm_weight_init

    log = FillLog()
    depth = threading.local()
    targets: list[tuple[Any, str]] = [(torch.nn.init, name) for name in _INIT_FUNCTIONS]
    targets.append((mm_weight_init, "_no_grad_trunc_normal_"))
    originals = [(owner, name, getattr(owner, name)) for owner, name in targets]

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def observed(*args: Any, **kwargs: Any) -> Any:
            level = getattr(depth, "level", 0)
            depth.level = level + 1
            try:
                result = fn(*args, **kwargs)
            finally:
                depth.level = level
            if level == 0:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                values = dict(bound.arguments)
                tensor = values.pop("tensor")
                values.pop("generator", None)
                shape = tuple(tensor.shape)
                law = _law(name, values, shape) if tensor.numel() else None
                text = f"{name}({', '.join(f'{k}={v!r}' for k, v in values.items())})"
                log.calls[_key(tensor)] = _Call(law, text, _fingerprint(tensor))
            return result

        return observed

    for owner, name, fn in originals:
        setattr(owner, name, wrap(name, fn))
    try:
        yield log
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
