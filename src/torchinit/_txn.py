"""The transaction: perform a plan so that any failure leaves every tensor as it was.

A run (``init_weights``, ``initialize``, ``materialize``) and every run nested inside user
code it calls share one :class:`Transaction`. It works in two phases:

1. **Issue.** The plan's steps are taken in order. A planned write (a rule's fill, a
   checkpoint copy) is not performed: it becomes the *pending* write of its tensor,
   replacing the one before (the last write wins). Opaque code (a user ``init_weights``,
   an mmengine-style initializer) runs at its place, under a guard (a
   ``TorchDispatchMode``) that sees every op it performs on the model's tensors:

   * a whole-tensor fill with scalar arguments (``normal_``, ``uniform_``, ``fill_``,
     ``zero_``...) is deferred like a planned write;
   * any other write, or a read of a tensor with a pending write, first saves the tensor's
     current value (once per run), then performs the pending write, then the op.

   A run nested inside user code (``super().init_weights()``) plans and issues into the same
   transaction; in the default mode its ``default`` writes never replace a rule's or a
   checkpoint's write (a default never beats a rule, however the code is nested).
2. **Commit.** The pending writes are performed in the order they were issued: writes that
   run foreign code (user fills, functions as ``type``, or all writes when a ``progress``
   callback is user code) first, each after saving its tensor; then the writes of
   torchinit's own, validated initializers and checked checkpoint tensors, which cannot
   fail. A Ctrl-C during that last part is held until it ends (the run completes, then
   ``KeyboardInterrupt`` is raised).

Any exception before the commit's safe part restores what was saved (the base class,
:class:`torchinit._restore.Restore`): tensor values, the tensor each attribute holds, and
``is_init`` flags. See docs/design.md ("Atomicity").
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ._commit import commit_safe, hold_interrupts, numel
from ._guard import _Guard, storage_of
from ._init_base import OWN_MODULES
from ._load import LazyValue, read_value
from ._plan_items import Call, Provenance, Ref, Slot
from ._restore import Restore
from ._run_errors import describe_call, reraise
from ._user_code import run_call
from .distributed import fills, sharded
from .distributed.bands import derive_seed
from .errors import InitStateError

__all__ = ["Transaction", "current", "derive_seed"]

Progress = Callable[[int, int], None]

_CURRENT: contextvars.ContextVar[Transaction | None] = contextvars.ContextVar("torchinit_txn", default=None)


def current() -> Transaction | None:
    """The transaction of the run this code is inside, if any."""
    return _CURRENT.get()


@dataclass(eq=False)
class _Write:
    """A pending write: a fill, a checkpoint copy or a deferred op of user code."""

    slot: Slot
    name: str  # qualified name in the transaction's root (seeds, messages)
    ref: Ref
    init: Any = None
    value: Tensor | None = None
    op: tuple[Any, tuple[Any, ...], dict[str, Any]] | None = None
    order: int = 0
    tensor_id: int = 0
    storage: int = 0
    risky: bool = False
    seed: int | None = None
    then: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    numel: int = 0  # of the tensor when issued: the commit's schedule (user code may replace it)

    def describe(self) -> str:
        if self.op is not None or (self.init is None and self.value is None):
            return f"{self.ref.initializer} (user code: {(self.op or self.then[0])[0]})"
        what = "checkpoint copy" if self.value is not None else self.ref.initializer
        return (
            f"{what} from the {'init_cfg' if self.ref.source != 'default' else 'default rule'} of "
            f"{self.ref.owner or 'the root'}"
        )


class Transaction(Restore):
    """See the module docstring."""

    def __init__(
        self, seed: int | None, num_threads: int | None, compat: str, progress: Progress | None = None
    ) -> None:
        self.seed = seed
        self.num_threads = num_threads
        self.compat = compat == "mmengine"
        self.progress = progress
        self.progress_is_user_code = progress is not None and not getattr(
            progress, "_torchinit_trusted", False
        )
        super().__init__()
        self.pending: dict[tuple[int, str], _Write] = {}
        self.last: dict[tuple[int, str], Provenance] = {}
        self.calls: list[Call] = []
        self.ran_code = False  # opaque code ran: the final provenance may differ from the plan's
        self.nested_rules: list[tuple[list[Any], str]] = []  # (rules of a nested run, where its root is)
        self.nested_plans: list[tuple[Any, Any]] = []  # (planner, report) of each nested run
        self.issued = 0
        self.user_draws: dict[tuple[int, str], int] = {}  # random ops deferred per tensor (own_generator)
        self.interrupted = False
        self.draws: fills.Draws = {}  # band draws by (initializer, shape), for the fills
        self.guard = _Guard(self)
        self.guard_depth = 0  # the guard is entered by the outermost call only

    def rollback(self) -> None:
        """Put back what was saved (see :class:`~torchinit._restore.Restore`); drop what is pending."""
        super().rollback()
        self.pending.clear()

    # ------------------------------------------------------------------ issuing
    def issue(
        self,
        slot: Slot,
        name: str,
        ref: Ref,
        owner: str,
        *,
        init: Any = None,
        value: Tensor | None = None,
        op: tuple[Any, tuple[Any, ...], dict[str, Any]] | None = None,
        done: bool = False,
        seed: int | None = None,
    ) -> bool:
        """Make this write the pending one of its tensor; False if a rule's write already
        holds the tensor and this is a default (default mode)."""
        t = slot.current()
        if t is None:
            return False
        key = slot.key
        previous = self.last.get(key)
        if (
            ref.source == "default"
            and not self.compat
            and previous is not None
            and previous.ref.source in ("rule", "pretrained")
        ):
            return False
        if t.is_meta and not done:
            raise InitStateError(
                f"{name} is on the meta device (it has no memory and no values), so {ref.initializer} cannot fill "
                "it. Build the model on a real device, or allocate and initialize it in one step with "
                "torchinit.materialize(model, 'cpu', seed=0). Nothing was changed."
            )
        self.last[key] = Provenance(ref, owner, init)
        if done:
            self.pending.pop(key, None)
            return True
        self.issued += 1
        # a fill of foreign code, or a checkpoint tensor read only now: either may fail
        risky = (op is None and value is None and type(init).__module__ not in OWN_MODULES) or isinstance(
            value, LazyValue
        )
        self.pending[key] = _Write(
            slot, name, ref, init, value, op, self.issued, id(t), storage_of(t), risky, seed, numel=t.numel()
        )
        return True

    def chain(
        self, slot: Slot, ref: Ref, owner: str, op: tuple[Any, tuple[Any, ...], dict[str, Any]]
    ) -> None:
        """Defer an in-place pointwise op of user code on a whole tensor: it runs after the
        tensor's pending write (or on its current values, if none), at commit or when read."""
        t = slot.current()
        assert t is not None
        key = slot.key
        write = self.pending.get(key)
        if write is None or write.tensor_id != id(t) or write.storage != storage_of(t):
            self.issued += 1
            write = self.pending[key] = _Write(
                slot,
                slot.name,
                ref,
                order=self.issued,
                tensor_id=id(t),
                storage=storage_of(t),
                numel=t.numel(),
            )
        write.then.append(op)
        self.last[key] = Provenance(ref, owner)  # user code changed the values: no rule's promise holds

    def run_call(self, call: Call) -> Any:
        """Run opaque code under the guard; attribute what it writes to it (see _user_code)."""
        return run_call(self, call)

    def own_generator(self, slot: Slot, device: torch.device) -> torch.Generator | None:
        """In a seeded run, the generator of the k-th random op user code defers on ``slot``."""
        if self.seed is None:
            return None
        self.user_draws[slot.key] = k = self.user_draws.get(slot.key, 0) + 1
        gen = torch.Generator(device=device)
        gen.manual_seed(derive_seed(self.seed, f"{slot.name}\x00user\x00{k}"))
        return gen

    # ------------------------------------------------------------------ performing
    def generator(self, write: _Write, tensor: Tensor) -> torch.Generator | None:
        """The generator of a whole-tensor draw: seeded ``derive_seed(seed, name)``; None unseeded."""
        if write.seed is None or write.op is not None or not getattr(write.init, "random", True):
            return None
        gen = torch.Generator(device=tensor.device)
        gen.manual_seed(derive_seed(write.seed, write.name))
        return gen

    def _target(self, write: _Write) -> Tensor | None:
        """The tensor ``write`` is for, if it is still in its slot."""
        t = write.slot.current()
        return None if t is None or t.is_meta or id(t) != write.tensor_id else t

    def check(self, write: _Write) -> None:
        """Raise, before anything is written, if ``write`` cannot be done on a sharded tensor."""
        t = self._target(write)
        if t is None or not sharded.is_sharded(t):
            return
        if write.op is not None:
            call = self.calls[-1] if self.calls else None
            fills.check_op(
                write.op[0], t, write.name, describe_call(call) if call is not None else "user code"
            )
        elif write.value is None and write.init is None:
            return  # only pointwise ops of user code, chained on the current values
        elif write.value is None:
            fills.check_fill(write.init, t, write.seed, write.name)
        else:
            sharded.check_layout(t, write.name)

    def pieces(self, write: _Write) -> list[fills.Piece]:
        """The work of one write (see torchinit.distributed.fills): a fill's bands, or one piece."""
        t = self._target(write)
        if t is None:
            return []
        if write.then:  # the base write, then the chained ops, in order and on one thread
            base = self._base_pieces(write, t)

            def run() -> None:
                for piece in base:
                    piece.run()
                for func, args, kwargs in write.then:
                    func(t.detach(), *args[1:], **kwargs)

            return [fills.Piece(t.numel(), run)]
        return self._base_pieces(write, t)

    def _base_pieces(self, write: _Write, t: Tensor) -> list[fills.Piece]:
        if write.value is None and write.init is None and write.op is None:
            return []
        if write.value is not None:
            value = write.value
            return [fills.Piece(t.numel(), lambda: sharded.copy_value(t, read_value(value)))]
        if write.op is not None:
            func, args, kwargs = write.op
            return [fills.Piece(t.numel(), lambda: func(t.detach(), *args[1:], **kwargs))]
        return fills.fill_pieces(
            write.init, t, write.seed, write.name, lambda: self.generator(write, t), self.draws
        )

    def perform(self, write: _Write) -> int:
        """Do one write now; returns the elements written (0 if its tensor is gone)."""
        self.check(write)
        with torch.no_grad():
            for piece in self.pieces(write):
                piece.run()
        t = self._target(write)
        return t.numel() if t is not None else 0

    def flush(self, key: tuple[int, str]) -> None:
        """Perform the pending write of ``key`` now (user code is about to read the tensor)."""
        write = self.pending.pop(key, None)
        if write is None:
            return
        t = write.slot.current()
        if t is not None:
            self.save(t)
        try:
            self.perform(write)
        except BaseException as exc:
            reraise(exc, f"{write.describe()} while filling {write.name}")

    def commit(self) -> None:
        writes = sorted(self.pending.values(), key=lambda w: w.order)
        self.pending.clear()
        risky = [w for w in writes if w.risky or self.progress_is_user_code]
        safe = [w for w in writes if not (w.risky or self.progress_is_user_code)]
        total = sum(numel(w) for w in writes) if self.progress is not None else 0
        done = 0
        if risky:
            self.cover_now()
        for w in risky:
            t = w.slot.current()
            if t is not None:
                self.save(t)
            try:
                done += self.perform(w)
            except BaseException as exc:
                reraise(exc, f"{w.describe()} while filling {w.name}")
            if self.progress is not None:
                try:
                    self.progress(done, total)
                except BaseException as exc:
                    reraise(exc, "the progress callback")
        with hold_interrupts(self):
            try:
                commit_safe(self, safe, done, total)
            except BaseException as exc:  # checked writes cannot fail: a bug or the machine (memory)
                reraise(exc, "writing the values the plan checked")
