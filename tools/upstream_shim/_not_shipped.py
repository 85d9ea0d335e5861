"""Placeholders for OpenMMLab names torchinit does not ship.

An upstream test module imports many names at once; a placeholder lets the module import
so that the tests using only shipped names run. Using a placeholder in any way raises,
naming it, so a test that needs it fails loudly (such tests are deselected as out of scope
in ``tools/upstream_suites.py``).
"""

from __future__ import annotations

from typing import Any


class NotShipped:
    """Stands for ``qualified_name``; calling it or reading an attribute raises."""

    def __init__(self, qualified_name: str) -> None:
        self._qualified_name = qualified_name

    def _fail(self) -> NotImplementedError:
        return NotImplementedError(f"{self._qualified_name} is not shipped by torchinit (out of scope).")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._fail()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise self._fail()

    def __repr__(self) -> str:
        return f"<not shipped by torchinit: {self._qualified_name}>"


def not_shipped(module: str, *names: str) -> dict[str, NotShipped]:
    """``{name: placeholder}`` for each name of ``module``, to splice into a shim's globals."""
    return {name: NotShipped(f"{module}.{name}") for name in names}
