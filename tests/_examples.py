"""How many examples the property tests run, and their settings: one place for all of them.

``TORCHINIT_HYPOTHESIS_EXAMPLES=N`` runs N examples per property instead of each test's
default (kept small so that the suite stays fast), e.g. before a release or after changing
the engine.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["examples", "property_settings"]


def examples(default: int) -> int:
    """``$TORCHINIT_HYPOTHESIS_EXAMPLES`` if set, else ``default``."""
    return int(os.environ.get("TORCHINIT_HYPOTHESIS_EXAMPLES") or default)


def property_settings(default: int) -> settings:
    """``examples(default)`` examples, the same ones every run (derandomized, no example
    database), no deadline; the health checks for slow, large or much-filtered generation off
    (the generated models and configs are big on purpose)."""
    return settings(
        max_examples=examples(default),
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
