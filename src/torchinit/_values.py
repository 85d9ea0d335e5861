"""What error messages say of a user's value, and user mappings read safely.

``short_repr``/``describe_value``/``exception_text`` never raise, whatever the value or
exception (a ``__repr__`` that raises, an int too long to print); ``read_mapping`` reads a
mapping written by a user once into a plain dict, and ``check_keys`` checks its keys are
argument names. ``describe_value`` and ``short_repr`` are public in :mod:`torchinit.registry`,
where most modules import them from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .errors import ConfigTypeError, ConfigValueError

__all__ = ["check_keys", "describe_value", "exception_text", "read_mapping", "short_repr"]


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)``, shortened to ``limit`` characters, and never an exception.

    An int too long to print (Python refuses past 4300 digits) reads ``~1e+400``; an object
    whose ``repr`` raises or recurses without end (a list nested 3000 deep) reads as its type.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        text = f"{'-' if value < 0 else ''}~1e+{math.floor(math.log10(abs(value)))}"
    else:
        try:
            text = repr(value)
        except Exception:
            text = f"<{type(value).__name__} object whose repr failed>"
    if not isinstance(text, str):  # a __repr__ returning something else already raised above
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_value(value: Any) -> str:
    """``repr(value)`` and its type, shortened, for error messages (never raises)."""
    return f"{short_repr(value)} (of type {type(value).__name__})"


def exception_text(exc: BaseException, limit: int = 300) -> str:
    """``the message (TypeError)``, shortened, and never an exception itself."""
    try:
        text = str(exc)
    except Exception:
        text = "its message could not be read"
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{text} ({type(exc).__name__})"


def read_mapping(mapping: Mapping[Any, Any], what: str) -> dict[Any, Any]:
    """A plain dict with the items of ``mapping``, read once, or a ConfigError saying why not.

    Mappings written by users may lie (``keys()`` naming a key that ``[]`` does not have) or
    raise; a config error names ``what`` was being read instead of leaking their exception.
    """
    if type(mapping) is dict:
        return dict(mapping)
    try:
        keys = list(mapping.keys())
    except Exception as exc:
        raise ConfigTypeError(
            f"{what}: reading the keys of {describe_value(mapping)} raised {exception_text(exc)}. "
            "Pass a plain dict."
        ) from exc
    items: dict[Any, Any] = {}
    for key in keys:
        try:
            items[key] = mapping[key]
        except KeyError:
            raise ConfigValueError(
                f"{what}: {type(mapping).__name__} lists the key {short_repr(key)} but has no value for it. "
                "Pass a plain dict."
            ) from None
        except Exception as exc:
            raise ConfigTypeError(
                f"{what}: reading {short_repr(key)} from {type(mapping).__name__} raised "
                f"{exception_text(exc)}. Pass a plain dict."
            ) from exc
    return items


def check_keys(items: Mapping[Any, Any], what: str) -> None:
    """Raise a ConfigTypeError unless every key of ``items`` is a str (an argument name)."""
    for key in items:
        if not isinstance(key, str):
            raise ConfigTypeError(
                f"{what}: keys must be argument names (str), got the key {describe_value(key)}."
            )
