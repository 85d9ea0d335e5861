"""BaseModule and the containers that take an ``init_cfg``.

``BaseModule(init_cfg=...)`` keeps a deep copy of its config; ``init_weights()`` initializes
the whole tree beneath it in one plan (see :mod:`torchinit.engine` for the order). A module
may also declare a *default* rule set by overriding :meth:`BaseModule.default_init_cfg`:
those rules have the lowest priority of all and fill only what no ``init_cfg`` covers.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from torch import nn

from ._config_data import copy_init_cfg
from ._default_rules import register_default_init, registered_default
from ._module_attrs import instance_attr, stock_lookup
from .errors import ConfigValueError

if TYPE_CHECKING:
    from .report import InitReport

__all__ = [
    "BaseModule",
    "ModuleDict",
    "ModuleList",
    "Sequential",
    "is_init_owner",
    "is_model_wrapper",
    "register_default_init",
]

InitCfg = Mapping[str, Any] | Iterable[Mapping[str, Any]]


def is_model_wrapper(module: nn.Module) -> bool:
    """True for wrappers whose real model is ``module.module`` (DDP, DataParallel) or
    ``module._orig_mod`` (``torch.compile``). The one place this is decided; patch it to add
    your own wrapper types."""
    wrappers: tuple[type, ...] = (nn.DataParallel, nn.parallel.DistributedDataParallel)
    if isinstance(module, wrappers):
        return True
    return type(module).__name__ == "OptimizedModule" and hasattr(module, "_orig_mod")


def unwrap_model(module: nn.Module) -> nn.Module:
    """The model inside a wrapper (see :func:`is_model_wrapper`), or ``module`` itself."""
    from . import module as this  # looked up when called, so a patched version is used

    while this.is_model_wrapper(module):
        inner = getattr(module, "module", None)
        if inner is None:
            inner = module._orig_mod
        module = cast(nn.Module, inner)
    return module


class Engine(Protocol):
    """What BaseModule needs of the engine: :mod:`torchinit.engine` provides it and binds
    itself here when it loads (``import torchinit`` loads it first). The engine imports this
    module, never the other way round: no import circle."""

    def init_weights(
        self,
        module: nn.Module,
        *,
        seed: int | None = None,
        compat: str | None = None,
        num_threads: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> InitReport | None:
        """``module.init_weights(...)`` of a BaseModule: one run of the engine (None: it had
        run already; a warning says so)."""
        ...

    def run_user_code(
        self,
        module: nn.Module,
        fn: Callable[[], Any],
        *,
        seed: int | None = None,
        compat: str | None = None,
        num_threads: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """A user-written ``init_weights`` of ``module`` (``fn``) run atomically."""
        ...


_ENGINE: list[Engine] = []


def bind_engine(engine: Engine) -> None:
    """Called once by :mod:`torchinit.engine` as it loads."""
    _ENGINE[:] = [engine]


def _engine() -> Engine:
    if not _ENGINE:  # cannot happen through ``import torchinit``, which loads the engine
        raise RuntimeError("torchinit.engine is not loaded: import torchinit first.")
    return _ENGINE[0]


class BaseModule(nn.Module):
    """An ``nn.Module`` whose initialization is described by ``init_cfg``.

    Args:
        init_cfg: a rule dict or a list of them, e.g.
            ``dict(type='Kaiming', layer='Conv2d')``. A deep copy is kept. A list that
            starts with ``...`` (or the string ``'...'`` in YAML/JSON) *extends* the default
            ``init_cfg`` of the class's constructor instead of replacing it:
            ``init_cfg=[..., dict(type='Normal', layer='Linear', std=0.01)]`` keeps the
            author's rules and adds one (later rules win where both apply).

    Example:
        >>> class Net(BaseModule):
        ...     def __init__(self, init_cfg=None):
        ...         super().__init__(init_cfg)
        ...         self.conv = nn.Conv2d(3, 8, 3)
        >>> net = Net(init_cfg=dict(type='Constant', layer='Conv2d', val=1))
        >>> _ = net.init_weights()
        >>> float(net.conv.weight.mean())
        1.0
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("init_weights")
        if callable(own) and not getattr(own, "__torchinit_atomic__", False):
            cls.init_weights = atomic_init_weights(own)  # type: ignore[method-assign]

    def __init__(self, init_cfg: InitCfg | None = None) -> None:
        super().__init__()
        self._is_init = False
        where = f"init_cfg of {type(self).__name__}"
        self.init_cfg = _resolve_extension(type(self), copy_init_cfg(init_cfg, where))
        self._init_report: InitReport | None = None

    @property
    def is_init(self) -> bool:
        """Whether ``init_weights()`` has run; set it to False to allow another run."""
        return self._is_init

    @is_init.setter
    def is_init(self, value: bool) -> None:
        self._is_init = bool(value)

    @property
    def init_report(self) -> InitReport | None:
        """The provenance report of the last ``init_weights()`` run on this module."""
        return self._init_report

    def default_init_cfg(self) -> InitCfg | None:
        """Rules of the lowest priority for this module's subtree (None: no defaults).

        They fill only the parameters that no ``init_cfg`` rule (of this module or any
        ancestor) covers. Layers such as ConvModule document theirs here.
        """
        return None

    def init_weights(
        self,
        *,
        seed: int | None = None,
        compat: str | None = None,
        num_threads: int | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> InitReport | None:
        """Initialize every parameter of this tree as the ``init_cfg`` rules say.

        Order of precedence, lowest first: PyTorch's construction-time
        ``reset_parameters()``; ``default_init_cfg()`` rules; an ancestor's rules; a
        descendant's rules (the deeper ``init_cfg`` wins, and an ``override`` beats a
        ``layer`` rule of the same config); a user-written ``init_weights()`` of a submodule;
        a ``Pretrained`` rule beats everything beneath the module that holds it.

        Args:
            seed: draw each parameter from its own generator seeded by
                ``(seed, qualified name)``: reproducible and filled on several threads.
                None uses torch's global generator on one thread, as mmengine does.
            compat: ``'mmengine'`` reproduces mmengine's outcome exactly (see docs);
                None uses the process default (:func:`torchinit.set_compat`).
            num_threads: threads for seeded fills (default ``torch.get_num_threads()``).
            progress: called as ``progress(done, total)`` (elements written) after each
                tensor, e.g. to drive a progress bar for a large model.

        Returns:
            The provenance report, or None if the module was already initialized (a
            warning says so and nothing changes).
        """
        report = _engine().init_weights(
            self, seed=seed, compat=compat, num_threads=num_threads, progress=progress
        )
        if report is not None:
            self._init_report = report
        return report

    def extra_repr(self) -> str:
        return f"init_cfg={self.init_cfg}" if self.init_cfg else ""


class Sequential(BaseModule, nn.Sequential):
    """``nn.Sequential`` that takes ``init_cfg``: ``Sequential(m1, m2, init_cfg=...)``."""

    def __init__(self, *args: nn.Module, init_cfg: InitCfg | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.Sequential.__init__(self, *args)


class ModuleList(BaseModule, nn.ModuleList):
    """``nn.ModuleList`` that takes ``init_cfg``: ``ModuleList([m1, m2], init_cfg=...)``."""

    def __init__(self, modules: Iterable[nn.Module] | None = None, init_cfg: InitCfg | None = None) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.ModuleList.__init__(self, modules)


class ModuleDict(BaseModule, nn.ModuleDict):
    """``nn.ModuleDict`` that takes ``init_cfg``: ``ModuleDict(dict(a=m1), init_cfg=...)``."""

    def __init__(
        self, modules: Mapping[str, nn.Module] | None = None, init_cfg: InitCfg | None = None
    ) -> None:
        BaseModule.__init__(self, init_cfg)
        nn.ModuleDict.__init__(self, modules)


def _is_extend_marker(item: Any) -> bool:
    return item is Ellipsis or (isinstance(item, str) and item == "...")


def class_default_init_cfg(cls: type) -> Any:
    """The ``init_cfg`` default of the most derived constructor that declares one."""
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            param = inspect.signature(init).parameters.get("init_cfg")
        except (TypeError, ValueError):
            continue
        if param is not None:
            return None if param.default is inspect.Parameter.empty else copy.deepcopy(param.default)
    return None


def _resolve_extension(cls: type, init_cfg: Any) -> Any:
    if not (isinstance(init_cfg, (list, tuple)) and init_cfg and _is_extend_marker(init_cfg[0])):
        return init_cfg
    default = class_default_init_cfg(cls)
    if default is None:
        raise ConfigValueError(
            f"init_cfg starts with '...' (extend the default rules), but {cls.__name__}.__init__ declares no "
            "default init_cfg to extend. Drop the '...' to give the rules directly."
        )
    base = list(default) if isinstance(default, (list, tuple)) else [default]
    return [*base, *init_cfg[1:]]


RUN_OPTIONS = ("seed", "compat", "num_threads", "progress")


def atomic_init_weights(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a user-written ``init_weights``) made atomic when it is the outermost call.

    Called directly (``model.init_weights()`` on a class that overrides it), the user's code
    runs as the opening step of a torchinit transaction: its ``super().init_weights()`` joins
    it, and an exception anywhere in it leaves every tensor as it was. ``seed=``,
    ``compat=``, ``num_threads=`` and ``progress=`` are accepted even when ``method`` does not
    take them (they configure that run), and a method that returns None returns the run's
    report. Called from inside a run, it is plain user code of that run. BaseModule
    subclasses (and, once adopted, mmengine's) get this automatically.
    """
    try:
        params = inspect.signature(method).parameters
        takes = (
            {name for name in RUN_OPTIONS if name in params}
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            else set(RUN_OPTIONS)
        )
    except (TypeError, ValueError):
        takes = set(RUN_OPTIONS)

    @functools.wraps(method)
    def init_weights(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        options = {name: kwargs.pop(name) for name in RUN_OPTIONS if name in kwargs and name not in takes}
        return _engine().run_user_code(self, lambda: method(self, *args, **kwargs), **options)

    init_weights.__torchinit_atomic__ = True  # type: ignore[attr-defined]
    return init_weights


# --------------------------------------------------------------------------- owners
# The BaseModule classes of the OpenMMLab libraries, by module path. Their instances carry
# ``init_cfg`` and ``is_init`` like ours; the engine honours them (plan, initialize, and
# init_weights once adopted: see torchinit.openmmlab) without importing those libraries.
FOREIGN_BASES = ("mmengine.model.base_module", "mmcv.runner.base_module")


@functools.lru_cache(maxsize=1024)
def foreign_base(cls: type) -> type | None:
    """The OpenMMLab ``BaseModule`` class that ``cls`` derives from, or None."""
    if issubclass(cls, BaseModule):
        return None
    for klass in cls.__mro__:
        if klass.__name__ == "BaseModule" and klass.__module__ in FOREIGN_BASES:
            return klass
    return None


def plain_class(cls: type) -> bool:
    """Do instances of ``cls`` get ``init_weights`` and ``is_init`` only from themselves?

    True for a class that is no init owner, has no registered default, defines neither name
    and looks attributes up the stock way: a plain layer or container. For its instances
    :func:`has_user_init_weights` and :func:`get_is_init` are false unless
    :func:`~torchinit._module_attrs.bare_instance` says otherwise. The planner asks once per
    class in a plan.
    """
    return (
        not issubclass(cls, BaseModule)
        and foreign_base(cls) is None  # type: ignore[arg-type]  # mypy checks a class's own __hash__ for the type object
        and registered_default(cls) is None  # type: ignore[arg-type]  # mypy checks a class's own __hash__ for the type object
        and stock_lookup(cls, "init_weights")
        and stock_lookup(cls, "is_init")
    )


def is_init_owner(module: nn.Module) -> bool:
    """True for modules whose ``init_cfg`` the engine applies: torchinit's BaseModule and
    the BaseModule of mmengine (and of mmcv 1.x)."""
    return isinstance(module, BaseModule) or foreign_base(type(module)) is not None  # type: ignore[arg-type]  # mypy checks a class's own __hash__ for the type object


def get_is_init(module: nn.Module) -> bool:
    """``module.is_init``: an init owner's flag, or any module's ``is_init`` attribute (mmengine
    skips a child whose ``getattr(m, 'is_init', False)`` is true, whatever its class)."""
    if is_init_owner(module):
        return bool(getattr(module, "_is_init", False))
    return bool(instance_attr(module, "is_init", False))


def set_is_init(module: nn.Module, value: bool) -> None:
    module._is_init = bool(value)  # type: ignore[assignment]  # nn.Module.__setattr__ is typed for tensors and modules


def has_user_init_weights(module: nn.Module) -> bool:
    """True if ``module`` has ``init_weights`` code of its own: a method its class defines
    beyond the stock BaseModule one, or a function set on the instance. A layer whose
    ``init_weights`` only applies a registered default (:func:`register_default_init`,
    e.g. mmcv's ConvModule) has none: its default is planned as a default rule."""
    if "init_weights" in vars(module):
        return callable(vars(module)["init_weights"])
    cls = type(module)
    if isinstance(module, BaseModule):
        return type(module).init_weights is not BaseModule.init_weights
    base = foreign_base(cls)  # type: ignore[arg-type]  # mypy checks a class's own __hash__ for the type object
    if base is not None:
        return cls.init_weights is not base.__dict__.get("init_weights")  # type: ignore[attr-defined]  # a foreign BaseModule subclass
    if registered_default(cls) is not None:  # type: ignore[arg-type]  # mypy checks a class's own __hash__ for the type object
        return False
    return callable(instance_attr(module, "init_weights", None))


def default_rules_of(module: nn.Module) -> Any:
    """The lowest-priority rules of ``module``: its ``default_init_cfg()`` (a torchinit
    BaseModule) or its registered default (:func:`register_default_init`), or None."""
    if isinstance(module, BaseModule):
        return module.default_init_cfg()
    rules = registered_default(type(module))  # type: ignore[arg-type]  # mypy checks a class's own __hash__ for the type object
    return None if rules is None else rules(module)
