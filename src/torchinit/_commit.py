"""The commit's last part: the writes the plan checked, performed on a thread pool.

:meth:`torchinit._txn.Transaction.commit` runs the writes that may fail first (each after
saving its tensor); the rest, torchinit's own validated fills and checked checkpoint
tensors, cannot fail and run here, with a Ctrl-C held until they are done. Seeded writes are
cut into pieces (see :mod:`torchinit.distributed.fills`) as the threads ask for work, each
band from its own generator, so the values do not depend on the schedule.
"""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch

from .distributed import fills, sharded

if TYPE_CHECKING:  # the transaction imports this module
    from ._txn import Transaction, _Write

__all__ = ["commit_safe", "hold_interrupts", "numel"]

# Below this many elements, seeded fills run on the calling thread: a thread pool costs more
# than it saves (results are the same either way: each tensor has its own generator).
_PARALLEL_MIN = 1 << 20


def commit_safe(txn: Transaction, writes: list[_Write], done: int, total: int) -> None:
    """Perform checked writes; seeded ones piece by piece on a thread pool, largest first
    (each band has its own generator, so the values do not depend on the schedule).

    Unseeded writes and those of sharded tensors run first, in order, on this thread. The
    other seeded writes are cut into pieces as the threads ask for work (the threads start
    filling the largest tensors while the small ones are still being cut)."""
    dtensor = sharded.dtensor_type()
    on_dtensors = {id(w) for w in writes if isinstance(w.slot.current(), dtensor)} if dtensor else set()
    for w in writes:  # a sharded write that cannot be done fails here, before any of them
        if id(w) in on_dtensors:
            txn.check(w)
    lock = threading.Lock()
    counter = [done]
    left: dict[int, int] = {}

    def finished(w: _Write) -> None:
        if txn.progress is not None:
            with lock:
                left[id(w)] -= 1
                if left[id(w)] <= 0:
                    counter[0] += numel(w)
                    txn.progress(counter[0], total)

    def one(w: _Write, piece: fills.Piece) -> None:
        with torch.no_grad():
            piece.run()
        finished(w)

    def pieces(w: _Write) -> list[fills.Piece]:
        found = txn.pieces(w)
        left[id(w)] = len(found)
        if not found:
            finished(w)
        return found

    def run(task: list[tuple[_Write, fills.Piece]]) -> None:
        with torch.no_grad():
            for w, piece in task:
                piece.run()
                finished(w)

    def run_writes(task: list[_Write]) -> None:  # small writes: cut here, not in tasks()
        run([(w, piece) for w in task for piece in pieces(w)])

    threads = txn.num_threads or torch.get_num_threads()
    late = [w for w in writes if w.seed is not None and id(w) not in on_dtensors]  # cut when run
    late_ids = {id(w) for w in late}
    early = {id(w): pieces(w) for w in writes if id(w) not in late_ids}
    parallel = [(w, p) for w in writes if w.seed is not None for p in early.get(id(w), ()) if p.parallel]
    sizes = {id(w): w.numel for w in late}
    if threads <= 1 or sum(sizes.values()) + sum(p.elements for _, p in parallel) < _PARALLEL_MIN:
        for w in writes:
            for piece in early[id(w)] if id(w) in early else pieces(w):
                one(w, piece)
        return
    chosen = {id(p) for _, p in parallel}
    for w in writes:  # unseeded writes and whole sharded tensors (one at a time), in order
        for piece in early.get(id(w), ()):
            if id(piece) not in chosen:
                one(w, piece)
    late.sort(key=lambda w: -sizes[id(w)])
    big = [w for w in late if sizes[id(w)] >= fills.BATCH_ELEMENTS]
    small = fills.batches(late[len(big) :], lambda w: sizes[id(w)])

    def tasks() -> Iterator[Callable[[], None]]:
        """The big writes, largest first, cut into pieces as the threads ask for them (the
        small ones go in batches to this thread first, each batch cut where it runs)."""
        for task in fills.batches(parallel, lambda pair: pair[1].elements):
            yield functools.partial(run, task)
        for w in big:
            for task in fills.batches([(w, p) for p in pieces(w)], lambda pair: pair[1].elements):
                yield functools.partial(run, task)

    fills.run_all(tasks(), threads, light=[functools.partial(run_writes, task) for task in small])


@contextmanager
def hold_interrupts(txn: Transaction) -> Iterator[None]:
    """Hold a Ctrl-C until the writes that cannot fail are all done (see module doc)."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return

    def hold(signum: int, frame: Any) -> None:
        txn.interrupted = True

    previous = signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def numel(write: _Write) -> int:
    """The elements of the tensor ``write`` is for, as it is now (0 if it is gone)."""
    t = write.slot.current()
    return t.numel() if t is not None else 0
