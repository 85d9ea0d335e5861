"""The guard around user code: a ``TorchDispatchMode`` that sees every op that code performs
on the model's tensors while a :class:`~torchinit._txn.Transaction` is open.

A whole-tensor fill with scalar arguments is deferred like a planned write; an in-place
pointwise op with scalar arguments on a deferred tensor is chained to it; any other write,
or a read of a tensor with a pending write, first saves the tensor (once per run), then
performs the pending write, then the op. See :mod:`torchinit._txn`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ._plan_items import Provenance
from ._run_errors import describe_call
from .distributed import fills, sharded

if TYPE_CHECKING:
    from ._txn import Transaction

__all__ = ["storage_of"]


def storage_of(t: Tensor) -> int:
    """The address of ``t``'s storage (a DTensor's: its local shard's); 0 for none."""
    try:
        if type(t) is not Tensor and type(t) is not nn.Parameter:
            t = sharded.local_tensor(t)
        return t.untyped_storage().data_ptr() if not t.is_meta and t.numel() else 0
    except (RuntimeError, NotImplementedError):  # sparse and other storage-less layouts
        return 0


_DEFERRABLE = frozenset(
    getattr(torch.ops.aten, name).default
    if "." not in name
    else getattr(getattr(torch.ops.aten, name.split(".")[0]), name.split(".")[1])
    for name in (
        "fill_.Scalar",
        "zero_",
        "normal_",
        "uniform_",
        "bernoulli_.float",
        "exponential_",
        "geometric_",
        "log_normal_",
        "cauchy_",
        "random_",
        "random_.from",
        "random_.to",
    )
)
_RANDOM = frozenset(op for op in _DEFERRABLE if "fill_" not in str(op) and "zero_" not in str(op))
_OP_INFO: dict[Any, tuple[tuple[int, ...], tuple[str, ...], bool]] = {}


def _op_info(func: Any) -> tuple[tuple[int, ...], tuple[str, ...], bool]:
    """(positions, names) of the arguments ``func`` writes, and whether it returns a view."""
    info = _OP_INFO.get(func)
    if info is None:
        schema = func._schema
        written = [
            (i, a.name)
            for i, a in enumerate(schema.arguments)
            if a.alias_info is not None and a.alias_info.is_write
        ]
        returns = schema.returns
        view = (
            bool(returns)
            and returns[0].alias_info is not None
            and not returns[0].alias_info.is_write
            and not written
        )
        info = _OP_INFO[func] = (tuple(i for i, _ in written), tuple(n for _, n in written), view)
    return info


def _tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, Tensor)]
    return []


def _whole(view: Tensor, t: Tensor) -> bool:
    """Does ``view`` cover exactly all of ``t``'s elements, with its dtype?"""
    if view.dtype != t.dtype or view.storage_offset() != t.storage_offset() or view.numel() != t.numel():
        return False
    return (view.shape == t.shape and view.stride() == t.stride()) or (
        view.is_contiguous() and t.is_contiguous()
    )


def _chainable(func: Any) -> bool:
    """An in-place pointwise op that draws no random numbers (``erfinv_``, ``mul_``, ``clamp_``):
    applied to a whole tensor with scalar arguments, it can wait for the tensor's pending write.
    (mmengine's ``trunc_normal_`` is ``uniform_`` followed by four of these.)"""
    info = _CHAINABLE.get(func)
    if info is None:
        tags = getattr(func, "tags", ())
        positions = _op_info(func)[0]
        info = _CHAINABLE[func] = (
            torch.Tag.pointwise in tags
            and torch.Tag.nondeterministic_seeded not in tags
            and positions == (0,)
            and str(func._schema.name).endswith("_")
        )
    return info


_CHAINABLE: dict[Any, bool] = {}


def _trial(func: Any, target: Tensor, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Run a deferred op on one element of the same dtype and device: its scalar arguments
    fail there if they would fail on the tensor (no generator state is consumed)."""
    scratch = torch.empty(1, dtype=target.dtype, device=target.device)
    extra = (
        {"generator": torch.Generator(device=target.device)}
        if "generator" in kwargs or func in _RANDOM
        else {}
    )
    if func not in _DEFERRABLE:
        scratch.zero_()  # a pointwise op reads the value: give it one
    func(scratch, *args[1:], **{**kwargs, **extra})


class _Guard(TorchDispatchMode):
    """Sees every op that opaque code performs while a transaction runs it."""

    def __init__(self, txn: Transaction) -> None:
        super().__init__()
        self.txn = txn

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps __torch_dispatch__ in torch._dynamo.disable by default, which imports
        # dynamo (820 modules, about 2-3 s) the first time a guarded op runs. This mode is
        # never compiled, so it opts out.
        return False

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        txn = self.txn
        positions, names, view = _op_info(func)
        if view:
            return func(*args, **kwargs)
        written = [t for i in positions if i < len(args) for t in _tensors(args[i])]
        written += [t for n in names if n in kwargs for t in _tensors(kwargs[n])]
        flat, _ = tree_flatten((args, kwargs))
        found = [(a, txn.storage.get(storage_of(a))) for a in flat if isinstance(a, Tensor)]
        hits = [(a, slots) for a, slots in found if slots]
        if not hits:
            return func(*args, **kwargs)
        call = txn.calls[-1] if txn.calls else None
        if torch.Tag.nondeterministic_seeded in func.tags:  # random numbers into a sharded tensor
            who = describe_call(call) if call is not None else "user code"
            for slot in (slot for _, slots in hits for slot in slots):
                if (t := slot.current()) is not None:
                    fills.check_op(func, t, slot.name, who)
        deferrable = func in _DEFERRABLE
        chainable = not deferrable and _chainable(func)
        if (
            call is not None
            and (deferrable or chainable)
            and len(written) == 1
            and written[0] is args[0]
            and kwargs.get("generator") is None
            and not any(isinstance(a, Tensor) for a in flat[1:])
        ):
            target = args[0]
            slots = txn.storage.get(storage_of(target)) or []
            whole = [s for s in slots if (cur := s.current()) is not None and _whole(target, cur)]
            if len(whole) == 1 and len(slots) == 1:
                _trial(func, target, args, kwargs)  # raises here, as the op itself would
                slot = whole[0]
                owner = txn.names.get(id(call.module), call.name)
                if deferrable:
                    if func in _RANDOM and (gen := txn.own_generator(slot, target.device)) is not None:
                        kwargs = {**kwargs, "generator": gen}
                    txn.issue(slot, slot.name, call.ref, owner, op=(func, args, kwargs))
                else:
                    txn.chain(slot, call.ref, owner, (func, args, kwargs))
                return target
        for a, slots in hits:
            for slot in slots:
                t = slot.current()
                if t is None:
                    continue
                if slot.key in txn.pending:
                    txn.flush(slot.key)
                if any(w is a for w in written):
                    txn.save(t)
                    txn.pending.pop(slot.key, None)
                    if call is not None:
                        txn.last[slot.key] = Provenance(call.ref, txn.names.get(id(call.module), call.name))
        return func(*args, **kwargs)
