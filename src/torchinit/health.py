"""The health check: after initialization, does every tensor look like its rule promised?

This public module re-exports the health check (implemented in ``torchinit.diagnostics``, where
its module docstring lists what is checked), so ``from torchinit.health import health_check``
keeps working; the same names are also importable from :mod:`torchinit` itself.
"""

from .diagnostics._health import (
    HealthFinding,
    HealthReport,
    TensorHealth,
    health_check,
    own_init,
    tied_parameters,
)

__all__ = ["HealthFinding", "HealthReport", "TensorHealth", "health_check", "own_init", "tied_parameters"]
