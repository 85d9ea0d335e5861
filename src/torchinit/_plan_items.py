"""What a plan is made of: tensor slots, planned writes, opaque calls and their provenance.

The planner (:mod:`torchinit._planner`) produces these; the transaction
(:mod:`torchinit._txn`) performs them. Nothing here reads or writes tensor values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from .report import RuleRecord, Source

__all__ = ["Call", "Fill", "Provenance", "Ref", "Slot", "describe_ref", "join", "label", "preorder"]


@dataclass(eq=False)
class Slot:
    """One tensor of the tree, found again through its module at write time."""

    name: str
    module: nn.Module
    attr: str
    is_buffer: bool

    @property
    def key(self) -> tuple[int, str]:
        """The same key for every slot object that names this attribute of this module."""
        return id(self.module), self.attr

    def current(self) -> Tensor | None:
        t = self.module._buffers.get(self.attr) if self.is_buffer else self.module._parameters.get(self.attr)
        if t is None:
            t = getattr(self.module, self.attr, None)
        return t if isinstance(t, Tensor) else None


@dataclass
class Ref:
    """Provenance of one planned write: what wrote it, on whose behalf.

    ``source`` orders writes across runs: a ``'default'`` write never replaces a ``'rule'``
    or ``'pretrained'`` one in the default mode (see :mod:`torchinit._txn`).
    """

    source: Source
    initializer: str
    owner: str
    role: str
    rule: RuleRecord | None
    value: float | None = None


@dataclass(eq=False)
class Fill:
    """A planned write: ``init.fill(tensor)``, or a copy of ``value`` (a checkpoint tensor)."""

    slot: Slot
    init: Any
    ref: Ref
    value: Tensor | None = None
    beaten: list[str] = field(default_factory=list)
    done: bool = False  # already in place (a checkpoint tensor assigned by materialize)


@dataclass(eq=False)
class Call:
    """Opaque code run at its place in the order: a user init_weights, an mmengine-style
    initializer, or a module's load hooks. It may write anything in ``module``'s subtree."""

    module: nn.Module
    name: str
    fn: Callable[[], Any]
    ref: Ref
    covers: list[nn.Module] | None = None  # the modules whose own tensors it sets, when known


def describe_ref(ref: Ref) -> str:
    return f"{ref.initializer} ({ref.source}, {ref.owner or 'root'})"


def preorder(root: nn.Module) -> list[tuple[str, nn.Module]]:
    """``root.named_modules()`` without recursion (linear even for deeply nested trees)."""
    out: list[tuple[str, nn.Module]] = []
    seen: set[int] = set()
    stack = [("", root)]
    while stack:
        name, m = stack.pop()
        if id(m) in seen:
            continue
        seen.add(id(m))
        out.append((name, m))
        stack.extend(reversed([(join(name, k), c) for k, c in m._modules.items() if c is not None]))
    return out


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def label(name: str, m: nn.Module) -> str:
    return f"{name} ({type(m).__name__})" if name else f"the root ({type(m).__name__})"


@dataclass
class Provenance:
    """The last write of a tensor in this transaction."""

    ref: Ref
    owner: str  # qualified in the transaction's root
    init: Any = None
