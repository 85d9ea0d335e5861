"""Lets timm import next to the CPU build of torch pinned here (test environment only).

timm imports torchvision, and PyPI's torchvision wheel is built against CUDA torch: its
compiled ops (``torchvision._C``) do not load next to the CPU torch, and torchvision then
fails while importing the two modules that register meta and autograd kernels *for* those
ops. When ``torchvision.extension`` says the ops are absent, those two modules are replaced
by empty ones while they are imported (nothing on disk changes). Nothing timm builds here
calls a torchvision op; one that did would raise torchvision's own "Couldn't load custom
C++ ops" error.

``install()`` is idempotent; call it before anything imports torchvision or timm.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

#: torchvision modules that only register kernels for its compiled ops.
OP_REGISTRATIONS = ("torchvision._meta_registrations", "torchvision._autograd_registrations")


class _Empty(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        module.__doc__ = "left empty by tests_ecosystem/ecosystem_shim.py: torchvision's ops did not load"


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in OP_REGISTRATIONS:
            return None
        import torchvision.extension

        return None if torchvision.extension._has_ops() else importlib.machinery.ModuleSpec(fullname, _Empty())


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once)."""
    if "torchvision" in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        raise RuntimeError("ecosystem_shim.install() must run before torchvision is imported")
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
