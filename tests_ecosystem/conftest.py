"""The ecosystem suite's environment: timm importable, no network, third-party warnings named.

Runs only inside ``.venv-ecosystem`` (``make test-ecosystem``); the main suite never collects
this folder. Every model is built from a config, without weights: any socket connection
fails the test that made it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import ecosystem_shim
import pytest
import torch

ecosystem_shim.install()

# The many small ops of model construction run faster on one thread on a shared 2-core machine.
torch.set_num_threads(1)

#: Warnings the libraries under test raise on their own; everything else stays an error.
THIRD_PARTY_WARNINGS = (
    r"ignore::DeprecationWarning:(timm|transformers|torchvision|huggingface_hub)",
    r"ignore::FutureWarning:(timm|transformers|torchvision|huggingface_hub)",
    r"ignore::UserWarning:(timm|transformers|torchvision)",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test ignores the libraries' own warnings (a mark wins over the ini's "error")."""
    marks = [pytest.mark.filterwarnings(line) for line in THIRD_PARTY_WARNINGS]
    for item in items:
        for mark in marks:
            item.add_marker(mark)


class NetworkAccessError(RuntimeError):
    """A test tried to open a network connection."""


def _refuse(self: socket.socket, address: Any) -> None:
    raise NetworkAccessError(f"tests_ecosystem builds models without weights: no connection to {address!r}")


@pytest.fixture(autouse=True, scope="session")
def no_network() -> Iterator[None]:
    """Every ``socket.connect`` raises for the whole session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refuse)
        yield
