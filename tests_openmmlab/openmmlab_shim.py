"""Import-time shims that let mmdet 3.3 and mmseg 1.2 import on mmcv-lite 2.2 (test environment only).

Two things stop them, and both are patched while a module is *imported*, never on disk:

* ``mmdet/__init__.py`` and ``mmseg/__init__.py`` assert ``mmcv < 2.2.0``. Their source is read
  as usual and only the literal upper bound is raised to ``2.2.1`` before it is compiled. If the
  literal is not there (another version of the package), the import fails loudly.
* mmcv-lite ships no compiled ops (``mmcv._ext``), and ``mmcv.ops`` loads them at import. A stand-in
  module answers every op name with a function that raises :class:`StubbedOpCalled` when it is
  *called*, so a model whose build or init actually runs a compiled op fails with the op's name
  (the tests skip such models with that reason) instead of getting a silent no-op.
* PyPI's torchvision wheel is built against CUDA torch, so its compiled ops (``torchvision._C``)
  do not load next to the CPU torch pinned here; torchvision then still imports its modules that
  register meta/autograd kernels *for* those ops, which fails. When ``torchvision.extension`` says
  the ops are absent, those two registration modules are replaced by empty ones; calling a
  torchvision op still raises torchvision's own "Couldn't load custom C++ ops" error.

``install()`` is idempotent and must run before ``mmdet``/``mmseg``/``mmcv.ops`` are imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

#: Per package: (literal in its __init__.py, the relaxed literal).
VERSION_BOUNDS: dict[str, tuple[str, str]] = {
    "mmdet": ("mmcv_maximum_version = '2.2.0'", "mmcv_maximum_version = '2.2.1'"),
    "mmseg": ("MMCV_MAX = '2.2.0'", "MMCV_MAX = '2.2.1'"),
}

#: torchvision modules that only register kernels for its compiled ops.
TORCHVISION_OP_REGISTRATIONS = ("torchvision._meta_registrations", "torchvision._autograd_registrations")

#: Names of the compiled ops that some code called (in the order of the first call).
CALLED_OPS: list[str] = []


class StubbedOpCalled(RuntimeError):
    """A compiled mmcv op was called in an environment that has none (mmcv-lite)."""


def stubbed_op_in(exc: BaseException) -> StubbedOpCalled | None:
    """The :class:`StubbedOpCalled` that ``exc`` is or was raised from (a library may wrap it), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, StubbedOpCalled):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _stub_op(name: str) -> Callable[..., Any]:
    def op(*args: Any, **kwargs: Any) -> Any:
        if name not in CALLED_OPS:
            CALLED_OPS.append(name)
        raise StubbedOpCalled(
            f"mmcv._ext.{name} was called, but this test environment has mmcv-lite (no compiled ops)"
        )

    op.__name__ = name
    return op


class _StubExtModule(types.ModuleType):
    """``mmcv._ext``: any op name resolves to a function that raises when called."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        op = _stub_op(name)
        setattr(self, name, op)
        return op


class _StubExtLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _StubExtModule(spec.name, "stand-in for mmcv's compiled ops (test environment only)")

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _EmptyModuleLoader(importlib.abc.Loader):
    """A module with nothing in it (for kernel registrations of ops that did not load)."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        module.__doc__ = "skipped by openmmlab_shim: torchvision's compiled ops did not load"


def _torchvision_has_ops() -> bool:
    import torchvision.extension

    return bool(torchvision.extension._has_ops())


class _RelaxedVersionLoader(importlib.machinery.SourceFileLoader):
    """Compiles a package's ``__init__.py`` with its mmcv upper bound relaxed."""

    def __init__(self, fullname: str, path: str, bound: tuple[str, str]) -> None:
        super().__init__(fullname, path)
        self._bound = bound

    def get_code(self, fullname: str) -> types.CodeType:  # no cached bytecode: always the edited source
        source = self.get_data(self.path).decode("utf-8")
        old, new = self._bound
        if old not in source:
            raise ImportError(
                f"openmmlab_shim: {self.path} has no {old!r}; this shim fits mmdet 3.3.0 and "
                "mmsegmentation 1.2.2 only (see tests_openmmlab/openmmlab_shim.py)"
            )
        return compile(source.replace(old, new, 1), self.path, "exec", dont_inherit=True)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "mmcv._ext":
            return importlib.machinery.ModuleSpec(fullname, _StubExtLoader())
        if fullname in TORCHVISION_OP_REGISTRATIONS and not _torchvision_has_ops():
            return importlib.machinery.ModuleSpec(fullname, _EmptyModuleLoader())
        bound = VERSION_BOUNDS.get(fullname)
        if bound is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return spec
        spec.loader = _RelaxedVersionLoader(fullname, spec.origin, bound)
        return spec


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once); raises if a shimmed package is imported already."""
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    early = [name for name in (*VERSION_BOUNDS, "mmcv._ext") if name in sys.modules]
    if early:
        raise RuntimeError(f"openmmlab_shim.install() must run before importing {', '.join(early)}")
    sys.meta_path.insert(0, _Finder())
