"""Opaque code run inside a transaction: a user's ``init_weights``, an initializer object, a
load hook.

:func:`run_call` runs one such call at its place in the plan, under the transaction's guard
(see :mod:`torchinit._guard`), after recording what a failure would restore. In a seeded run
it draws from torch's generator seeded by (seed, its module's name), and each whole-tensor
draw it defers gets a generator of its own (:func:`own_generator`), so a seeded run with
user code is reproducible. What the guard cannot see (a tensor replaced, ``.data = x``) is
found afterwards by comparing each tensor's identity and storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ._guard import storage_of
from ._plan_items import Call, Provenance, join, preorder
from ._run_errors import describe_call, reraise
from .distributed.bands import derive_seed
from .errors import InitStateError

if TYPE_CHECKING:  # the transaction imports this module
    from ._txn import Transaction

__all__ = ["run_call"]

States = dict[tuple[int, str], tuple[int, int]]


def run_call(txn: Transaction, call: Call) -> Any:
    """Run ``call`` under ``txn``'s guard; attribute what it writes to it."""
    txn.cover_now()
    meta = [
        join(call.name, n)
        for n, t in [*call.module.named_parameters(), *call.module.named_buffers()]
        if t.is_meta
    ]
    if meta:  # what it wrote would vanish silently: a meta tensor has no values
        shown = ", ".join(meta[:5]) + (f" and {len(meta) - 5} more" if len(meta) > 5 else "")
        raise InitStateError(
            f"{describe_call(call)} would run on tensors on the meta device ({shown}), which have no memory: "
            "what it writes would be lost. Allocate and initialize in one step with "
            "torchinit.materialize(model, 'cpu', seed=0). Nothing was changed."
        )
    before = _states(call.module)
    txn.ran_code = True
    txn.calls.append(call)
    try:
        if txn.guard_depth == 0:
            txn.guard_depth += 1
            try:
                with txn.guard, _seeded(txn, call):
                    result = call.fn()
            finally:
                txn.guard_depth -= 1
        else:
            with _seeded(txn, call):
                result = call.fn()
    except BaseException as exc:
        reraise(exc, describe_call(call))
    finally:
        txn.calls.pop()
    _after_call(txn, call, before)
    return result


@contextmanager
def _seeded(txn: Transaction, call: Call) -> Iterator[None]:
    """In a seeded run, opaque code draws from torch's generator seeded by (seed, its module's
    name), restored afterwards. (Whole-tensor draws it defers get a generator of their own:
    see ``Transaction.own_generator``.)"""
    if txn.seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(txn.seed, f"{txn.names.get(id(call.module), call.name)}\x00code"))
        yield


def _states(root: nn.Module) -> States:
    return {
        (id(m), attr): (id(t), storage_of(t))
        for _, m in preorder(root)
        for table in (m._parameters, m._buffers)
        for attr, t in table.items()
        if t is not None
    }


def _after_call(txn: Transaction, call: Call, before: States) -> None:
    """Writes the guard cannot see: a tensor replaced, or given new storage (``.data = x``)."""
    owner = txn.names.get(id(call.module), call.name)
    for key, state in _states(call.module).items():
        if before.get(key) == state:
            continue
        pending = txn.pending.get(key)
        if pending is not None and (pending.tensor_id, pending.storage) != state:
            del txn.pending[key]  # planned before the replacement: the user's tensor wins
            pending = None
        if pending is None:
            txn.last[key] = Provenance(call.ref, owner)
    txn.refresh(call.module, fresh=True)
