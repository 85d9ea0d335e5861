"""How a failure during a run is reported: an exception of user code, a fill or a callback
becomes an :class:`~torchinit.errors.InitApplyError` naming the step (still an instance of
the builtin it was), after the transaction has restored every tensor."""

from __future__ import annotations

from ._plan_items import Call
from .errors import InitApplyError, TorchInitError

__all__ = ["describe_call", "reraise", "wrap_error"]


def describe_call(call: Call) -> str:
    if call.ref.source == "user":
        return f"the user-defined init_weights of {call.name or 'the root'} ({type(call.module).__name__})"
    return f"{call.ref.initializer} (from the init_cfg of {call.ref.owner or 'the root'}) on {call.name or 'the root'}"


_BUILTIN_BASES = (
    TypeError,
    ValueError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    ZeroDivisionError,
    AssertionError,
    NotImplementedError,
    RecursionError,
    LookupError,
    ArithmeticError,
)
_ERROR_CLASSES: dict[type, type] = {}


def reraise(exc: BaseException, what: str) -> None:
    error = wrap_error(exc, what)
    if error is exc:
        raise exc
    raise error from exc


def wrap_error(exc: BaseException, what: str) -> BaseException:
    """``exc`` as an :class:`InitApplyError` naming ``what`` (still an instance of the builtin
    family it belonged to, so ``except ValueError`` keeps working). torchinit's own errors,
    and ``KeyboardInterrupt``/``SystemExit``, pass through unchanged."""
    if not isinstance(exc, Exception) or isinstance(exc, TorchInitError):
        return exc
    base = next((b for b in type(exc).__mro__ if b in _BUILTIN_BASES), None)
    cls = InitApplyError
    if base is not None:
        cls = _ERROR_CLASSES.get(base) or _ERROR_CLASSES.setdefault(  # type: ignore[assignment]  # made below as a subclass
            base, type(f"InitApplyError[{base.__name__}]", (InitApplyError, base), {"__module__": __name__})
        )
    text = str(exc).strip().splitlines()
    reason = f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
    return cls(
        f"{what} raised {reason}. Every parameter and buffer was restored to its value before the run."
    )
