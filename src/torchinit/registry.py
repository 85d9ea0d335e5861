"""Name tables: register a class under a name, look it up, build it from a config dict.

A :class:`Registry` is a plain table filled where its entries are defined; there are no
scopes guessed from the caller's stack and nothing is imported as a side effect of a
lookup. ``type`` in a config may be a registered name or the class itself. A name written
with an OpenMMLab scope (``'mmengine.Constant'``) resolves to the part after the last dot
when that part is registered; an arbitrary dotted path is never imported.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from ._values import check_keys, describe_value, exception_text, read_mapping, short_repr
from .errors import (
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    ConfigValueError,
    RegistryError,
    TorchInitError,
    UnknownTypeError,
)

__all__ = ["Registry", "build_from_cfg", "close_matches", "describe_value", "short_repr"]

T = TypeVar("T")


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Names in ``choices`` that look like ``word`` (typos, case), best first."""
    by_lower: dict[str, list[str]] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), []).append(choice)
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n, 0.6)
    return [choice for m in matches for choice in by_lower[m]][:n]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'X'?`` or an empty string."""
    found = close_matches(word, choices)
    if not found:
        return ""
    return " Did you mean " + " or ".join(repr(f) for f in found) + "?"


class Registry:
    """A table of named classes (or functions) that configs refer to by ``type``.

    Args:
        name: what the table holds, used in messages (``'weight initializer'``).
        build_func: how :meth:`build` turns a cfg into an object; defaults to
            :func:`build_from_cfg` with this registry.
        import_path: where users import the registry from (``'torchinit.MODELS'``), for hints.

    Example:
        >>> LAYERS = Registry('layer')
        >>> @LAYERS.register_module()
        ... class MyLayer: ...
        >>> LAYERS.get('MyLayer') is MyLayer
        True
    """

    def __init__(
        self, name: str, build_func: Callable[..., Any] | None = None, *, import_path: str | None = None
    ) -> None:
        self.name = name
        self.import_path = import_path
        self._entries: dict[str, Any] = {}
        self._build_func = build_func
        self._fallbacks: list[Callable[[str], Any]] = []

    # ------------------------------------------------------------------ registering
    def register_module(
        self,
        name: str | Iterable[str] | None = None,
        force: bool = False,
        module: Any = None,
    ) -> Any:
        """Register a class or function, as a decorator or as a call.

        Args:
            name: the name(s) configs use; defaults to the object's ``__name__``.
            force: replace an existing entry of the same name instead of raising.
            module: the object to register now (call form); omitted, a decorator is returned.
        """
        if not isinstance(force, bool):
            raise ConfigTypeError(f"force must be a bool, got {describe_value(force)}.")
        if name is not None and not isinstance(name, str):
            try:
                names = list(name) if isinstance(name, Iterable) else None
            except Exception:  # an iterable that raises
                names = None
            if not names or not all(isinstance(n, str) for n in names):
                raise ConfigTypeError(
                    f"name must be None, a str or a non-empty list of str, got {describe_value(name)}."
                )
            name = names
        if module is not None:
            self._add(module, name, force)
            return module

        def decorator(obj: T) -> T:
            self._add(obj, name, force)
            return obj

        return decorator

    def _add(self, obj: Any, name: str | Iterable[str] | None, force: bool) -> None:
        if not callable(obj):
            raise ConfigTypeError(
                f"{self.name} registry: only classes and functions can be registered, "
                f"got {describe_value(obj)}."
            )
        if name is None and not isinstance(getattr(obj, "__name__", None), str):
            raise ConfigTypeError(
                f"{self.name} registry: {describe_value(obj)} has no __name__; pass name=... to "
                "say what configs call it."
            )
        names = [obj.__name__] if name is None else [name] if isinstance(name, str) else list(name)
        for key in names:
            if key in self._entries and not force and self._entries[key] is not obj:
                raise RegistryError(
                    f"{key!r} is already registered in the {self.name} registry "
                    f"(as {self._entries[key]!r}). Pass force=True to replace it, "
                    "or register under another name."
                )
        for key in names:
            self._entries[key] = obj

    # ------------------------------------------------------------------ looking up
    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            self._resolve_name(name) is not None or self._fallback(name) is not None
        )

    def add_fallback(self, lookup: Callable[[str], Any]) -> Callable[[], None]:
        """Consult ``lookup(name)`` (an object, or None) for names this table does not hold.

        How another registry is bridged in (e.g. mmengine's, by
        :func:`torchinit.adopt_mmengine`). Returns a function that removes the fallback.
        """
        self._fallbacks.append(lookup)

        def remove() -> None:
            if lookup in self._fallbacks:
                self._fallbacks.remove(lookup)

        return remove

    def _fallback(self, name: str) -> Any:
        for lookup in self._fallbacks:
            found = lookup(name)
            if found is not None:
                return found
        return None

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry(name={self.name!r}, items={self.names()})"

    @property
    def module_dict(self) -> dict[str, Any]:
        """A copy of the table (mmengine's spelling)."""
        return dict(self._entries)

    def _resolve_name(self, name: str) -> str | None:
        if name in self._entries:
            return name
        if "." in name:
            tail = name.rsplit(".", 1)[1]
            if tail in self._entries:
                return tail
        return None

    def get(self, key: str | type | Callable[..., Any]) -> Any:
        """The registered object for a name; a class or function is returned as it is.

        Raises:
            UnknownTypeError: no entry has that name; the message lists close names.
        """
        if not isinstance(key, str):
            if callable(key):
                return key
            raise ConfigTypeError(
                f"type must be a registered {self.name} name or a class, got {describe_value(key)}."
            )
        resolved = self._resolve_name(key)
        if resolved is None and (found := self._fallback(key)) is not None:
            return found
        if resolved is None:
            hint = did_you_mean(key.rsplit(".", 1)[-1], self._entries)  # 'mmengine.Kaimng' too
            raise UnknownTypeError(
                f"{key!r} is not a registered {self.name}.{hint} "
                f"Registered: {', '.join(self.names()) or '(none)'}. Register your own with "
                f"@{self.import_path or 'this registry'}.register_module()."
            )
        return self._entries[resolved]

    def build(self, cfg: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Build an object from ``cfg`` (a dict whose ``type`` names an entry)."""
        if self._build_func is not None:
            return self._build_func(cfg, *args, registry=self, **kwargs)
        return build_from_cfg(cfg, self, *args, **kwargs)


def _signature(target: Any) -> inspect.Signature | None:
    """``inspect.signature``, cached for classes and functions (it is slow and called per rule).

    None when there is none to read (builtins) or reading it raises (a hostile object).
    """
    try:
        return _cached_signature(target)
    except Exception:  # unhashable callables, or a __hash__ that raises
        try:
            return inspect.signature(target)
        except Exception:
            return None


@functools.lru_cache(maxsize=512)
def _cached_signature(target: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(target)
    except (TypeError, ValueError):
        return None


def check_kwargs(
    target: Any, kwargs: Mapping[str, Any], what: str, *, skip: Collection[str] = ("self",)
) -> None:
    """Raise a ConfigTypeError naming the arguments ``target`` takes if ``kwargs`` has others.

    Also when ``kwargs`` lacks a required argument. Parameters named in ``skip`` are not
    the caller's to give (``self``; a fill function's tensor and generator).
    """
    signature = _signature(target)
    if signature is None:  # builtins without a signature: let the call decide
        return
    check_keys(kwargs, what)
    params = [p for p in signature.parameters.values() if p.name not in skip]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    named = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]
    accepted = [p.name for p in named]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        hints = "".join(did_you_mean(k, accepted) for k in unknown)
        raise ConfigTypeError(
            f"{what} got unexpected argument(s) {', '.join(repr(k) for k in unknown)}.{hints} "
            f"It takes: {', '.join(accepted) or '(no arguments)'}."
        )
    missing = [p.name for p in named if p.default is inspect.Parameter.empty and p.name not in kwargs]
    if missing:
        raise ConfigTypeError(
            f"{what} is missing required argument(s) {', '.join(repr(m) for m in missing)}."
        )


def build_from_cfg(
    cfg: Mapping[str, Any],
    registry: Registry,
    default_args: Mapping[str, Any] | None = None,
) -> Any:
    """Build ``registry.get(cfg['type'])(**rest_of_cfg, **default_args)``.

    ``cfg`` is never modified. Arguments in ``cfg`` win over ``default_args``.

    Raises:
        ConfigTypeError: cfg is not a dict, or the class rejects an argument (named).
        ConfigKeyError: neither cfg nor default_args has ``type``.
        UnknownTypeError: ``type`` is not registered (close names listed).
        ConfigError: the constructor raised (a TypeError becomes a ConfigTypeError, a
            KeyError a ConfigKeyError, anything else a ConfigValueError; the original is
            ``__cause__``). torchinit's own errors pass through as they are.
    """
    what = f"a {registry.name} cfg"
    if not isinstance(cfg, Mapping):
        raise ConfigTypeError(f"{what} must be a dict, got {describe_value(cfg)}.")
    if default_args is not None and not isinstance(default_args, Mapping):
        raise ConfigTypeError(f"default_args must be a dict or None, got {describe_value(default_args)}.")
    args = read_mapping(default_args, "default_args") if default_args is not None else {}
    args.update(read_mapping(cfg, what))
    check_keys(args, what)
    if "type" not in args:
        raise ConfigKeyError(
            f"{what} needs a 'type' key naming one of: {', '.join(registry.names())}; "
            f"got {short_repr(cfg, 200)}."
        )
    obj_type = args.pop("type")
    target = registry.get(obj_type)
    name = short_repr(getattr(target, "__name__", target))
    check_kwargs(target, args, f"{registry.name} {name}")
    return call_constructor(target, args, f"building {registry.name} {name} from {short_repr(cfg, 200)}")


def call_constructor(target: Any, args: Mapping[str, Any], what: str) -> Any:
    """``target(**args)``; whatever it raises becomes a ConfigError naming ``what``.

    torchinit's own errors and warnings (turned into errors by a filter) pass through as
    they are; a TypeError becomes a ConfigTypeError, a KeyError a ConfigKeyError and
    anything else a ConfigValueError, with the original as ``__cause__``.
    """
    try:
        return target(**args)
    except (TorchInitError, Warning):
        raise
    except Exception as exc:
        cls: type[ConfigError] = (
            ConfigTypeError
            if isinstance(exc, TypeError)
            else ConfigKeyError
            if isinstance(exc, KeyError)
            else ConfigValueError
        )
        raise cls(f"{what} failed: {exception_text(exc)}") from exc
