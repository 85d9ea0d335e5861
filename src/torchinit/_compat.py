"""The process-wide compatibility mode: ``'torchinit'`` (ours) or ``'mmengine'``.

Read by the engine (every run) and by checkpoint loading (which layout a checkpoint's state
dict is taken from); a module of its own so that both read it without importing each other.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigValueError
from .registry import describe_value

__all__ = ["COMPAT_MODES", "check_compat", "get_compat", "resolve_compat", "set_compat"]

COMPAT_MODES = ("torchinit", "mmengine")
_default = ["torchinit"]


def check_compat(mode: Any) -> str:
    """``mode`` if it is one of :data:`COMPAT_MODES`, else a ConfigValueError naming them."""
    if mode not in COMPAT_MODES:
        raise ConfigValueError(
            f"compat must be one of {', '.join(map(repr, COMPAT_MODES))}, got {describe_value(mode)}."
        )
    return str(mode)


def set_compat(mode: str) -> None:
    """Set the process-wide default mode: ``'torchinit'`` (ours) or ``'mmengine'``."""
    _default[0] = check_compat(mode)


def get_compat() -> str:
    """The process-wide default mode (see :func:`set_compat`)."""
    return _default[0]


def resolve_compat(mode: Any) -> str:
    """The mode a call runs in: ``mode`` checked, or the process default when it is None/empty."""
    return check_compat(mode or _default[0])
