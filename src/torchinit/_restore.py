"""What a failed run puts back: the base of :class:`torchinit._txn.Transaction`.

Any exception before the commit's safe part restores, from what was saved: tensor values,
the tensor each attribute holds (and the storage each tensor uses), and ``is_init`` flags.
So a run whose user code writes little costs almost no memory; what it reads after
writing, or writes in part, is saved once. What a failure restores is recorded only when
code other than torchinit's checked writes is about to run (``cover_later``): a run of
rules and checkpoints alone changes nothing before its safe part, so it records nothing.
See docs/design.md ("Atomicity").
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ._guard import storage_of
from ._plan_items import Slot, join, preorder
from .module import get_is_init, is_init_owner, set_is_init

__all__ = ["Restore"]


class Restore:
    """What a failure restores, recorded as a run goes: see the module docstring.

    ``names``: the qualified name of each module covered, by id; ``storage``: the slots of
    each storage (user code's ops are traced back to tensors through it); ``saved``: copies
    of tensor values; ``fresh``: tensors new in this run (nothing to save).
    """

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.storage: dict[int, list[Slot]] = {}
        self.saved: dict[int, tuple[Tensor, Tensor]] = {}
        self.fresh: set[int] = set()
        self.aliases: list[tuple[Tensor, Tensor]] = []
        self.holders: list[tuple[nn.Module, dict[str, Any], dict[str, Any]]] = []
        self.flags: list[tuple[nn.Module, bool]] = []
        self._covered: set[int] = set()
        self._later: nn.Module | None = None

    def cover_later(self, root: nn.Module) -> None:
        """``cover(root)`` once something other than torchinit's checked writes is about to
        run (user code, a foreign fill, a progress callback): until then nothing can change
        what a failure must restore, and a run with none of those never pays for the index."""
        self._later = root

    def cover_now(self) -> None:
        if self._later is not None:
            root, self._later = self._later, None
            self.cover(root)

    def cover(self, root: nn.Module) -> None:
        """Remember, for every module under ``root`` not seen yet, what a failure restores:
        the objects its attributes hold, the storage of each tensor, its ``is_init``."""
        prefix = self.names.get(id(root), "")
        covered, names, holders = self._covered, self.names, self.holders
        for name, m in preorder(root):
            if id(m) in covered:
                continue
            covered.add(id(m))
            names.setdefault(id(m), join(prefix, name) if name else prefix)
            holders.append((m, dict(m._parameters), dict(m._buffers)))
            if is_init_owner(m):
                self.flags.append((m, get_is_init(m)))
            self._index(m)

    def _index(self, m: nn.Module) -> None:
        name = None
        for table, is_buffer in ((m._parameters, False), (m._buffers, True)):
            for attr, t in table.items():
                if t is None or t.is_meta:
                    continue
                ptr = storage_of(t)
                if not ptr:
                    continue
                slots = self.storage.get(ptr)
                if slots is None:
                    slots = self.storage[ptr] = []
                elif any(s.module is m and s.attr == attr for s in slots):
                    continue
                if name is None:
                    name = self.names.get(id(m), "")
                slots.append(Slot(join(name, attr), m, attr, is_buffer))
                self.aliases.append((t, t.detach()))

    def refresh(self, root: nn.Module, fresh: bool) -> None:
        """Index tensors that appeared under ``root`` (allocated by materialize, or put there by
        user code): they are new objects, so a failure only has to put the old ones back."""
        for _, m in preorder(root):
            for t in [*m._parameters.values(), *m._buffers.values()]:
                if t is not None and not t.is_meta and storage_of(t) not in self.storage:
                    if fresh:
                        self.fresh.add(id(t))
            self._index(m)

    def save(self, t: Tensor) -> None:
        """Keep a copy of ``t``'s current value (once per run) unless it is new in this run."""
        if id(t) in self.saved or id(t) in self.fresh or t.is_meta:
            return
        with torch.no_grad():
            self.saved[id(t)] = (t, t.detach().clone())

    def saved_bytes(self) -> int:
        """What was copied so that a failure could be undone."""
        return sum(v.numel() * v.element_size() for _, v in self.saved.values())

    def rollback(self) -> None:
        """Put back every ``is_init`` flag, every attribute's tensor, each tensor's storage
        and every value saved."""
        for m, flag in self.flags:
            set_is_init(m, flag)
        for m, params, buffers in self.holders:
            m._parameters.clear()
            m._parameters.update(params)
            m._buffers.clear()
            m._buffers.update(buffers)
        with torch.no_grad():
            for t, alias in self.aliases:
                if (
                    storage_of(t) != storage_of(alias)
                    or t.shape != alias.shape
                    or t.stride() != alias.stride()
                ):
                    t.data = alias
            for t, value in self.saved.values():
                t.copy_(value)
