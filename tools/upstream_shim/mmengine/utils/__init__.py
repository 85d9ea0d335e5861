"""Shim: ``mmengine.utils``: ``digit_version`` only."""

from __future__ import annotations

import re


def digit_version(version: str) -> tuple[int, ...]:
    """``'2.13.0+cpu'`` -> ``(2, 13, 0)``, comparable as tuples (enough for the tests' checks)."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0]))
