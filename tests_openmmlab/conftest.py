"""The OpenMMLab suite's environment: import shims, no network, third-party warnings named.

Runs only inside ``.venv-openmmlab`` (``make test-openmmlab``); the main suite never collects
this folder. Before anything imports mmcv, mmdet or mmseg, :mod:`openmmlab_shim` relaxes their
``mmcv<2.2.0`` check and stands in for mmcv's compiled ops (a call to one raises). Any socket
connection fails the test that made it: no weights may come from the network.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import torch

import openmmlab_shim

openmmlab_shim.install()

# One intra-op thread: no result depends on it, and on a busy 2-core machine torch's thread pool
# makes the many small ops of mmengine's init several times slower. torchinit's seeded mode
# still fills on two threads of its own (num_threads=2 in _observe.MODES).
torch.set_num_threads(1)

#: Warnings the packages under test raise on their own (deprecations of their dependencies);
#: everything else stays an error, as in the main suite.
THIRD_PARTY_WARNINGS = (
    r"ignore::DeprecationWarning:(mmengine|mmcv|mmdet|mmseg|mmpretrain|torchvision|pycocotools|shapely)",
    r"ignore::DeprecationWarning:matplotlib",
    r"ignore::UserWarning:(mmengine|mmcv|mmdet|mmseg|mmpretrain|torchvision)",
    r"ignore::FutureWarning:(mmengine|mmcv|mmdet|mmseg|mmpretrain|torchvision)",
    r"ignore::ImportWarning:(mmengine|mmcv|mmdet|mmseg|mmpretrain)",
    r"ignore::SyntaxWarning",
    # torch.distributed's own modules, imported by mmengine:
    r"ignore:`torch.jit.(script|interface)` is deprecated:DeprecationWarning",
)


def pytest_configure(config: pytest.Config) -> None:
    for line in THIRD_PARTY_WARNINGS:
        config.addinivalue_line("filterwarnings", line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """List every default-mode difference from mmengine and the README row that explains it."""
    import _differences

    if _differences.EXPLAINED:
        terminalreporter.section("default mode vs mmengine: documented differences")
        for line in _differences.summary(_differences.EXPLAINED):
            terminalreporter.write_line(line)


class NetworkAccessError(RuntimeError):
    """A test tried to open a network connection."""


@pytest.fixture(autouse=True, scope="session")
def no_network() -> Iterator[None]:
    """Every ``socket.connect`` raises for the whole session."""
    original = socket.socket.connect

    def refuse(self: socket.socket, address: Any) -> None:
        raise NetworkAccessError(f"tests_openmmlab must not use the network (connect to {address!r})")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]
