"""One line to move mmengine-based code (mmdet, mmpretrain, mmseg...) onto torchinit.

    import torchinit
    torchinit.adopt_mmengine()        # before or after mmdet & co. are imported

What it changes, all in place and all undone by :meth:`Adoption.undo`:

* ``mmengine.model.BaseModule.init_weights`` runs torchinit's engine, so every subclass that
  does not override it (and every override that calls ``super().init_weights()``) is
  initialized by torchinit: validated first, atomic, reported, and it takes ``seed=``,
  ``compat=``, ``num_threads=`` and ``progress=``. Classes defined before the call are
  covered as well: the method is looked up on the base class when it is called.
* ``mmengine.model.initialize`` (and ``mmengine.model.weight_init.initialize``) is
  torchinit's ``initialize``; a module that imported the old function by name before the
  call keeps it (listed in :attr:`Adoption.not_patched`; it still works inside a torchinit
  run, as user code).
* torchinit's registries look up what they lack in mmengine's: initializers registered in
  mmengine's ``WEIGHT_INITIALIZERS`` (your ``BaseInit`` subclasses) and model types
  registered in mmengine's ``MODELS`` tree (mmdet's ``SAC``, ``DCNv2``...).

mmengine itself is imported only here, when the function is called; it is never a
dependency of torchinit.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..engine import initialize, owner_init_weights
from ..errors import TorchInitError
from ..initializers import WEIGHT_INITIALIZERS, BaseInit
from ..module import FOREIGN_BASES, atomic_init_weights

__all__ = ["Adoption", "adopt_mmengine"]

logger = logging.getLogger("torchinit")


class AdoptionError(TorchInitError, ImportError):
    """mmengine is not installed (or not importable), so there is nothing to adopt."""


@dataclass
class Adoption:
    """What :func:`adopt_mmengine` changed, and what it could not.

    Attributes:
        patched: what now runs torchinit (``'mmengine.model.BaseModule.init_weights'``...).
        not_patched: ``(what, why)`` for what still runs mmengine's code.
        mmengine_version: the version found.
    """

    patched: list[str] = field(default_factory=list)
    not_patched: list[tuple[str, str]] = field(default_factory=list)
    mmengine_version: str = ""
    _undo: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def active(self) -> bool:
        return _ACTIVE is self

    def undo(self) -> None:
        """Put mmengine back exactly as it was."""
        global _ACTIVE
        for fn in reversed(self._undo):
            fn()
        self._undo.clear()
        if _ACTIVE is self:
            _ACTIVE = None

    def summary(self) -> str:
        lines = [f"torchinit adopted mmengine {self.mmengine_version}:"]
        lines += [f"  patched: {p}" for p in self.patched]
        lines += [f"  not patched: {what} ({why})" for what, why in self.not_patched]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


_ACTIVE: Adoption | None = None


def adopt_mmengine() -> Adoption:
    """Make mmengine's ``BaseModule`` (and so mmdet, mmpretrain, mmseg models) initialize
    through torchinit. Call it once, before or after those packages are imported; a second
    call returns the same :class:`Adoption`. See the module docs for what changes.

    Raises:
        AdoptionError: mmengine cannot be imported (an ImportError naming the fix).

    Example::

        import torchinit
        torchinit.adopt_mmengine()
        model = MODELS.build(cfg.model)       # mmdet/mmpretrain/mmseg, as before
        report = model.init_weights(seed=0)   # torchinit's engine and report
    """
    global _ACTIVE
    if _ACTIVE is not None:
        return _ACTIVE
    try:
        import mmengine
        import mmengine.model
        from mmengine.model import base_module, weight_init
    except ImportError as exc:
        raise AdoptionError(
            f"adopt_mmengine() needs mmengine, which cannot be imported ({exc}). Install it "
            "(`pip install mmengine-lite`), or use torchinit.BaseModule directly without adopting."
        ) from exc
    adoption = Adoption(mmengine_version=getattr(mmengine, "__version__", "?"))
    base = base_module.BaseModule
    if base.__module__ not in FOREIGN_BASES:  # a future mmengine moved it: we would not recognize its modules
        adoption.not_patched.append(
            (f"{base.__module__}.BaseModule", "mmengine's BaseModule is not where torchinit looks for it")
        )
    else:
        _patch(
            adoption,
            base,
            "init_weights",
            _make_init_weights(base.__dict__["init_weights"]),
            "mmengine.model.BaseModule.init_weights",
        )
        _make_overrides_atomic(adoption, base)
    _patch_initialize(adoption, weight_init)
    _bridge_registries(adoption)
    _ACTIVE = adoption
    logger.info("%s", adoption.summary())
    return adoption


def _patch(adoption: Adoption, owner: Any, name: str, value: Any, label: str | None = None) -> None:
    original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, value)
    if label:
        adoption.patched.append(label)
    adoption._undo.append(lambda: setattr(owner, name, original))


def _make_overrides_atomic(adoption: Adoption, base: type) -> None:
    """Every ``init_weights`` a subclass writes (now and later) runs atomically when called
    directly, as torchinit's own BaseModule subclasses do."""
    wrapped = 0
    stack: list[type] = list(base.__subclasses__())
    seen: set[type] = set()
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        stack.extend(cls.__subclasses__())
        own = cls.__dict__.get("init_weights")
        if callable(own) and not getattr(own, "__torchinit_atomic__", False):
            _patch(adoption, cls, "init_weights", atomic_init_weights(own))
            wrapped += 1
    adoption.patched.append(f"the init_weights of {wrapped} existing subclasses: atomic when called directly")
    previous = base.__dict__.get("__init_subclass__")

    def init_subclass(cls: type, **kwargs: Any) -> None:
        super(base, cls).__init_subclass__(**kwargs)  # type: ignore[arg-type]  # cls is a subclass of base
        own = cls.__dict__.get("init_weights")
        if callable(own) and not getattr(own, "__torchinit_atomic__", False):
            cls.init_weights = atomic_init_weights(own)  # type: ignore[attr-defined]

    base.__init_subclass__ = classmethod(init_subclass)  # type: ignore[assignment]
    adoption.patched.append("subclasses defined later: their init_weights is atomic too")

    def restore() -> None:
        if previous is None:
            del base.__init_subclass__
        else:
            base.__init_subclass__ = previous  # type: ignore[method-assign]

    adoption._undo.append(restore)


def _make_init_weights(original: Callable[..., Any]) -> Callable[..., Any]:

    @functools.wraps(original)
    def init_weights(
        self: nn.Module,
        *,
        seed: int | None = None,
        compat: str | None = None,
        num_threads: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """Initialize this module's tree with torchinit (adopted from mmengine; see
        :meth:`torchinit.BaseModule.init_weights` for the arguments and the order)."""
        return owner_init_weights(self, seed=seed, compat=compat, num_threads=num_threads, progress=progress)

    init_weights.__signature__ = inspect.signature(init_weights, follow_wrapped=False)  # type: ignore[attr-defined]
    init_weights.__torchinit__ = True  # type: ignore[attr-defined]
    return init_weights


def _patch_initialize(adoption: Adoption, weight_init: Any) -> None:

    original = weight_init.initialize

    def mm_initialize(module: nn.Module, init_cfg: Any) -> Any:
        """mmengine's ``initialize(module, init_cfg)``, run by torchinit."""
        return initialize(module, init_cfg)

    for owner_name in ("mmengine.model.weight_init", "mmengine.model"):
        owner = sys.modules.get(owner_name)
        if owner is not None and getattr(owner, "initialize", None) is original:
            _patch(adoption, owner, "initialize", mm_initialize, f"{owner_name}.initialize")
    for name, mod in list(sys.modules.items()):
        if (
            mod is not None
            and name
            not in ("mmengine.model.weight_init", "mmengine.model", __name__, "mmengine.model.base_module")
            and getattr(mod, "initialize", None) is original
        ):
            adoption.not_patched.append(
                (
                    f"{name}.initialize",
                    "imported by name before adopt_mmengine(); it "
                    "still runs mmengine's function (as user code inside a torchinit run)",
                )
            )


def _bridge_registries(adoption: Adoption) -> None:
    try:
        from mmengine.registry import MODELS as MM_MODELS
        from mmengine.registry import WEIGHT_INITIALIZERS as MM_INITIALIZERS
    except ImportError as exc:  # pragma: no cover (every mmengine 0.x has both)
        adoption.not_patched.append(("mmengine registries", f"not importable: {exc}"))
        return
    from ..models import MODELS

    remove = WEIGHT_INITIALIZERS.add_fallback(
        lambda name: _foreign_initializer(_lookup(MM_INITIALIZERS, name))
    )
    adoption._undo.append(remove)
    adoption.patched.append("torchinit.WEIGHT_INITIALIZERS falls back to mmengine's WEIGHT_INITIALIZERS")
    remove = MODELS.add_fallback(lambda name: _lookup(MM_MODELS, name))
    adoption._undo.append(remove)
    adoption.patched.append("torchinit.MODELS falls back to mmengine's MODELS (and its children: mmdet, ...)")


def _lookup(registry: Any, name: str) -> Any:
    """``name`` in an mmengine registry or any of its children (mmdet's, mmpretrain's...)."""
    if not isinstance(name, str):
        return None
    scope, _, short = name.rpartition(".")
    stack = [registry]
    while stack:
        reg = stack.pop()
        if not scope or getattr(reg, "scope", None) == scope:
            found = reg.module_dict.get(short)
            if found is not None:
                return found
        stack.extend(getattr(reg, "children", {}).values())
    return None


@functools.lru_cache(maxsize=256)
def _foreign_initializer(cls: Any) -> Any:
    """A BaseInit subclass registered in mmengine, as a torchinit BaseInit with its signature."""
    if cls is None or not isinstance(cls, type):
        return None
    if issubclass(cls, BaseInit) or cls.__module__.startswith("mmengine.model"):
        return None  # ours, or mmengine's built-in initializers (torchinit has each of them)

    class Adopted(BaseInit):
        __doc__ = cls.__doc__

        def __init__(self, **kwargs: Any) -> None:
            self.inner = cls(**kwargs)
            self.bias = getattr(self.inner, "bias", 0)
            self.layer = list(getattr(self.inner, "layer", []))
            self.wholemodule = False

        def __call__(self, module: nn.Module) -> None:
            self.inner.wholemodule = self.wholemodule
            self.inner(module)

        def describe(self) -> str:
            info = getattr(self.inner, "_get_init_info", None)
            return str(info()) if callable(info) else cls.__name__

    Adopted.__name__ = Adopted.__qualname__ = cls.__name__
    Adopted.__signature__ = inspect.signature(cls)  # type: ignore[attr-defined]
    return Adopted
