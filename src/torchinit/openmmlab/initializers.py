"""mmengine's initializer objects: ``XavierInit(layer='Conv2d', bias=0.1)(model)``.

mmengine's API builds an initializer object and calls it on a module; torchinit's modern
spelling is a fill-only class in a rule (``dict(type='Xavier', layer='Conv2d')``). These
classes keep mmengine's signatures (``layer``, ``bias``, ``bias_prob``, ``wholemodule``)
and run through the engine when called: validated first, recorded in the report, atomic,
and joined to the run around them when called from ``init_weights`` code.
``INITIALIZERS.build(cfg)`` returns one of them; ``update_init_info`` is mmengine's hook for
initializers to describe what they did.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from torch import nn

from .._txn import current
from ..engine import initialize
from ..errors import ConfigTypeError
from ..initializers import WEIGHT_INITIALIZERS, BaseInit, Pretrained, describe_initializer
from ..registry import Registry, build_from_cfg, describe_value

__all__ = [
    "INITIALIZERS",
    "Caffe2XavierInit",
    "ConstantInit",
    "FillInitObject",
    "KaimingInit",
    "NormalInit",
    "PretrainedInit",
    "TruncNormalInit",
    "UniformInit",
    "XavierInit",
    "update_init_info",
]


class FillInitObject(BaseInit):
    """An mmengine-style initializer object around a registered fill initializer.

    Calling it on a module applies ``dict(type=fill_type, layer=..., bias=..., **args)``
    with :func:`torchinit.initialize`; with ``wholemodule=True`` (how mmengine applies an
    ``override``) every module in it that has a weight or bias is filled, whatever its class.

    Args:
        fill_type: the registered name of the fill initializer (``'Xavier'``).
        bias, bias_prob, layer: as in every rule.
        **args: the fill initializer's own arguments, checked now.
    """

    fill_type: ClassVar[str | None] = None

    def __init__(
        self,
        fill_type: str | None = None,
        *,
        bias: float = 0,
        bias_prob: float | None = None,
        layer: str | list[str] | None = None,
        **args: Any,
    ) -> None:  # noqa: D417
        super().__init__(bias=bias, bias_prob=bias_prob, layer=layer)
        kind = fill_type or type(self).fill_type
        if not isinstance(kind, str):
            raise ConfigTypeError(
                f"{type(self).__name__}: fill_type must be a registered initializer name, "
                f"got {describe_value(kind)}."
            )
        self.fill_type = kind  # type: ignore[misc]  # an instance may name its own fill, over the class default
        self.args = dict(args)
        self.fill = build_from_cfg(dict(type=kind, **args), WEIGHT_INITIALIZERS)  # validates the arguments
        for name, value in args.items():
            setattr(self, name, value)

    def rule(self) -> dict[str, Any]:
        """The rule this object applies when called (mmengine's semantics as a config)."""
        cfg: dict[str, Any] = dict(type=self.fill_type, **self.args, bias=self.bias)
        cfg["layer"] = [nn.Module] if self.wholemodule else list(self.layer)
        return cfg

    def __call__(self, module: nn.Module) -> None:

        if not isinstance(module, nn.Module):
            raise ConfigTypeError(
                f"{type(self).__name__} is called on an nn.Module, got {describe_value(module)}."
            )
        compat = None if not self.wholemodule else "torchinit"  # the whole module: every class, in both modes
        if self.layer or self.wholemodule:
            initialize(module, self.rule(), compat=compat)

    def describe(self) -> str:
        text = describe_initializer(self.fill)
        return f"{text} [bias={self.bias:g}]" if self.bias else text

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{type(self).__name__}({args}{', ' if args else ''}bias={self.bias!r}, layer={self.layer!r})"


class ConstantInit(FillInitObject):
    """Fill with ``val`` (mmengine's ``ConstantInit``)."""

    fill_type = "Constant"

    def __init__(self, val: float, **kwargs: Any) -> None:
        super().__init__(val=val, **kwargs)


class XavierInit(FillInitObject):
    """Glorot & Bengio (2010) (mmengine's ``XavierInit``)."""

    fill_type = "Xavier"

    def __init__(self, gain: float = 1, distribution: str = "normal", **kwargs: Any) -> None:
        super().__init__(gain=gain, distribution=distribution, **kwargs)


class NormalInit(FillInitObject):
    """N(mean, std²) (mmengine's ``NormalInit``)."""

    fill_type = "Normal"

    def __init__(self, mean: float = 0, std: float = 1, **kwargs: Any) -> None:
        super().__init__(mean=mean, std=std, **kwargs)


class TruncNormalInit(FillInitObject):
    """N(mean, std²) cut to the absolute range [a, b] (mmengine's ``TruncNormalInit``)."""

    fill_type = "TruncNormal"

    def __init__(self, mean: float = 0, std: float = 1, a: float = -2, b: float = 2, **kwargs: Any) -> None:
        super().__init__(mean=mean, std=std, a=a, b=b, **kwargs)


class UniformInit(FillInitObject):
    """U(a, b) (mmengine's ``UniformInit``)."""

    fill_type = "Uniform"

    def __init__(self, a: float = 0, b: float = 1, **kwargs: Any) -> None:
        super().__init__(a=a, b=b, **kwargs)


class KaimingInit(FillInitObject):
    """He et al. (2015), mmengine's defaults (mmengine's ``KaimingInit``)."""

    fill_type = "Kaiming"

    def __init__(
        self,
        a: float = 0,
        mode: str = "fan_out",
        nonlinearity: str = "relu",
        distribution: str = "normal",
        **kwargs: Any,
    ) -> None:
        super().__init__(a=a, mode=mode, nonlinearity=nonlinearity, distribution=distribution, **kwargs)


class Caffe2XavierInit(FillInitObject):
    """Caffe2's Xavier: Kaiming uniform, a=1, fan_in, leaky_relu (mmengine's ``Caffe2XavierInit``)."""

    fill_type = "Caffe2Xavier"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


class PretrainedInit(BaseInit):
    """Load a checkpoint into the module it is called on (mmengine's ``PretrainedInit``).

    Args:
        checkpoint: a path, URL or ``scheme://name``.
        prefix: load only the keys under ``prefix.`` (``'backbone.'``), stripped.
        map_location: where tensors are read to.
        **kwargs: the rest of :class:`torchinit.Pretrained` (``strict``, ``min_loaded``...).
    """

    def __init__(
        self, checkpoint: Any, prefix: str | None = None, map_location: Any = "cpu", **kwargs: Any
    ) -> None:
        super().__init__()
        self.checkpoint = checkpoint
        self.prefix = prefix
        self.map_location = map_location
        self.pretrained = Pretrained(
            checkpoint=checkpoint, prefix=prefix, map_location=map_location, **kwargs
        )

    def __call__(self, module: nn.Module) -> None:

        initialize(
            module, dict(type=Pretrained, **{k: getattr(self.pretrained, k) for k in _PRETRAINED_FIELDS})
        )

    def describe(self) -> str:
        return self.pretrained.describe()


_PRETRAINED_FIELDS = tuple(p for p in inspect.signature(Pretrained).parameters)
_OBJECTS: dict[str, type[BaseInit]] = {
    "Constant": ConstantInit,
    "Xavier": XavierInit,
    "Normal": NormalInit,
    "TruncNormal": TruncNormalInit,
    "Uniform": UniformInit,
    "Kaiming": KaimingInit,
    "Caffe2Xavier": Caffe2XavierInit,
    "Pretrained": PretrainedInit,
}


class _InitializerObjects(Registry):
    """``INITIALIZERS``: mmengine's registry of initializer objects.

    It shares its table with ``WEIGHT_INITIALIZERS`` (registering here registers there,
    so a config finds it), but what it gives back is an mmengine-style object:
    ``INITIALIZERS.build(dict(type='Xavier', layer='Conv2d'))`` is a :class:`XavierInit`,
    callable on a module. A fill initializer without an mmengine class of its own
    (``'Orthogonal'``) comes back as a :class:`FillInitObject`.
    """

    def __init__(self) -> None:
        super().__init__("initializer object", import_path="torchinit.INITIALIZERS")

    def register_module(self, name: Any = None, force: bool = False, module: Any = None) -> Any:
        return WEIGHT_INITIALIZERS.register_module(name=name, force=force, module=module)

    def names(self) -> list[str]:
        return WEIGHT_INITIALIZERS.names()

    def __contains__(self, name: object) -> bool:
        return name in WEIGHT_INITIALIZERS or (isinstance(name, type) and issubclass(name, BaseInit))

    def __len__(self) -> int:
        return len(WEIGHT_INITIALIZERS)

    @property
    def module_dict(self) -> dict[str, Any]:
        return {name: self.get(name) for name in WEIGHT_INITIALIZERS.names()}

    def get(self, key: Any) -> Any:
        """The object class for ``key``: an mmengine-style class, or a BaseInit subclass."""
        if isinstance(key, type) and issubclass(key, BaseInit):
            return key
        found = WEIGHT_INITIALIZERS.get(key)
        if isinstance(found, type) and issubclass(found, BaseInit):
            return found
        name = next((n for n, cls in _OBJECTS.items() if WEIGHT_INITIALIZERS.get(n) is found), None)
        if name is not None:
            return _OBJECTS[name]
        fill_type = key if isinstance(key, str) else getattr(found, "__name__", None)

        def build(**kwargs: Any) -> FillInitObject:
            return FillInitObject(fill_type, **kwargs)

        return build

    def build(self, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        return build_from_cfg(cfg, self, *args, **kwargs)


INITIALIZERS = _InitializerObjects()


def update_init_info(module: nn.Module, init_info: str) -> None:
    """mmengine's hook: an initializer object describes what it did to ``module``.

    Inside a torchinit run, the text becomes the provenance of the tensors the object
    wrote (``report[name].initializer``); outside one it does nothing. Unlike mmengine's
    version it needs no ``_params_init_info`` attribute on the module.
    """

    txn = current()
    if txn is not None and txn.calls and isinstance(init_info, str):
        txn.calls[-1].ref.initializer = init_info
