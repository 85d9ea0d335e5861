"""torchinit: configuration-driven weight initialization for PyTorch.

A drop-in for the OpenMMLab ``init_cfg`` system (``mmcv.cnn`` / ``mmengine.model``) that
validates the whole config before it changes a weight, writes each parameter once and
reports who set what.

``import torchinit`` loads the engine, the initializers, the layers and the registries. The
parts a run does not always need (checkpoint reading, the diagnostics and their tables, the
OpenMMLab objects, ``lsuv_init``, ``materialize``) are imported the first time one of their
names is used: ``torchinit.health_check`` works as always, and ``dir(torchinit)`` and
``vars(torchinit)`` list the whole API.
"""

import importlib as _importlib
import sys as _sys
import typing as _typing
from types import ModuleType as _ModuleType

from .engine import get_compat, initialize, plan, set_compat
from .errors import (
    CheckpointChecksumError,
    CheckpointCorruptError,
    CheckpointDeviceError,
    CheckpointDownloadError,
    CheckpointError,
    CheckpointFormatError,
    CheckpointKeyCollisionError,
    CheckpointNotDictError,
    CheckpointNotFoundError,
    CheckpointPrefixError,
    CheckpointReadError,
    CheckpointStrictError,
    CheckpointTensorError,
    CheckpointThresholdError,
    CheckpointUnsafeError,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    ConfigValueError,
    InitApplyError,
    InitStateError,
    InitWarning,
    ModelZooError,
    OverrideNameError,
    RegistryError,
    TorchInitError,
    UnknownSchemeError,
    UnknownTypeError,
)
from .functional import (
    bias_init_with_prob,
    caffe2_xavier_init,
    calculate_gain,
    constant_init,
    kaiming_init,
    normal_init,
    trunc_normal_,
    trunc_normal_init,
    uniform_init,
    xavier_init,
)
from .initializers import (
    WEIGHT_INITIALIZERS,
    Arange,
    BaseInit,
    Caffe2Xavier,
    Constant,
    DeltaOrthogonal,
    DepthScaledNormal,
    Dirac,
    EmbeddingNormal,
    Eye,
    FillInit,
    FromModule,
    Initializer,
    Kaiming,
    LeCunNormal,
    LeCunUniform,
    ModuleInit,
    Normal,
    Ones,
    Orthogonal,
    Pretrained,
    SkipInitWeights,
    Sparse,
    TorchDefault,
    TruncNormal,
    TruncNormalTF,
    Uniform,
    VarianceScaling,
    Xavier,
    Zeros,
)
from .layers import (
    ACTIVATION_LAYERS,
    CONV_LAYERS,
    NORM_LAYERS,
    PADDING_LAYERS,
    UPSAMPLE_LAYERS,
    ConvModule,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    build_padding_layer,
    build_upsample_layer,
)
from .models import MODELS, build_model
from .module import BaseModule, ModuleDict, ModuleList, Sequential, is_model_wrapper, register_default_init
from .registry import Registry, build_from_cfg
from .report import InitReport, ParamRecord, RuleRecord

if _typing.TYPE_CHECKING:  # loaded on first use (_LAZY below); imported here for type checkers and the docs
    from ._lsuv import lsuv_init
    from ._materialize import materialize
    from .diagnostics._probe import ActivationProbe, LayerActivation, probe_activations
    from .diagnostics._record import reproducibility_record
    from .diagnostics._render import print_report
    from .health import HealthFinding, HealthReport, TensorHealth, health_check, tied_parameters
    from .openmmlab.adopt import Adoption, AdoptionError, adopt_mmengine
    from .openmmlab.initializers import (
        INITIALIZERS,
        Caffe2XavierInit,
        ConstantInit,
        FillInitObject,
        KaimingInit,
        NormalInit,
        PretrainedInit,
        TruncNormalInit,
        UniformInit,
        XavierInit,
        update_init_info,
    )
    from .pretrained import (
        LoadResult,
        get_torchinit_home,
        load_checkpoint,
        load_state_dict,
        read_checkpoint,
        register_scheme,
    )

__version__ = "0.1.0"

_LAZY: dict[str, tuple[str, ...]] = {
    # module (relative to this package) -> the public names it defines, imported on first use
    "._lsuv": ("lsuv_init",),
    "._materialize": ("materialize",),
    ".diagnostics._probe": ("ActivationProbe", "LayerActivation", "probe_activations"),
    ".diagnostics._record": ("reproducibility_record",),
    ".diagnostics._render": ("print_report",),
    ".health": ("HealthFinding", "HealthReport", "TensorHealth", "health_check", "tied_parameters"),
    ".openmmlab.adopt": ("Adoption", "AdoptionError", "adopt_mmengine"),
    ".openmmlab.initializers": (
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
    ),
    ".pretrained": (
        "LoadResult",
        "get_torchinit_home",
        "load_checkpoint",
        "load_state_dict",
        "read_checkpoint",
        "register_scheme",
    ),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}
_SUBMODULES = ("health", "openmmlab", "pretrained")  # public subpackages an eager import used to bind


def __getattr__(name: str) -> _typing.Any:
    """Import the part that defines ``name`` on first use, and keep the name here."""
    module = _LAZY_NAMES.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(module, __name__), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_NAMES})


class _Namespace(_ModuleType):
    """This package's module type: asking for the namespace as a whole (``vars(torchinit)``,
    ``torchinit.__dict__``) first imports every lazy name, so it lists the whole API."""

    @property
    def __dict__(self) -> dict[str, _typing.Any]:  # type: ignore[override]
        for name in _LAZY_NAMES.keys() - _GLOBALS.keys():
            __getattr__(name)
        return _GLOBALS


_GLOBALS = globals()
_sys.modules[__name__].__class__ = _Namespace

__all__ = [
    "ACTIVATION_LAYERS",
    "ActivationProbe",
    "Adoption",
    "AdoptionError",
    "Arange",
    "BaseInit",
    "BaseModule",
    "CONV_LAYERS",
    "Caffe2Xavier",
    "Caffe2XavierInit",
    "CheckpointChecksumError",
    "CheckpointCorruptError",
    "CheckpointDeviceError",
    "CheckpointDownloadError",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointKeyCollisionError",
    "CheckpointNotDictError",
    "CheckpointNotFoundError",
    "CheckpointPrefixError",
    "CheckpointReadError",
    "CheckpointStrictError",
    "CheckpointTensorError",
    "CheckpointThresholdError",
    "CheckpointUnsafeError",
    "ConfigError",
    "ConfigKeyError",
    "ConfigTypeError",
    "ConfigValueError",
    "Constant",
    "ConstantInit",
    "ConvModule",
    "DeltaOrthogonal",
    "DepthScaledNormal",
    "Dirac",
    "EmbeddingNormal",
    "Eye",
    "FillInit",
    "FillInitObject",
    "FromModule",
    "HealthFinding",
    "HealthReport",
    "INITIALIZERS",
    "InitApplyError",
    "InitReport",
    "InitStateError",
    "InitWarning",
    "Initializer",
    "Kaiming",
    "KaimingInit",
    "LayerActivation",
    "LeCunNormal",
    "LeCunUniform",
    "LoadResult",
    "MODELS",
    "ModelZooError",
    "ModuleDict",
    "ModuleInit",
    "ModuleList",
    "NORM_LAYERS",
    "Normal",
    "NormalInit",
    "Ones",
    "Orthogonal",
    "OverrideNameError",
    "PADDING_LAYERS",
    "ParamRecord",
    "Pretrained",
    "PretrainedInit",
    "Registry",
    "RegistryError",
    "RuleRecord",
    "Sequential",
    "SkipInitWeights",
    "Sparse",
    "TensorHealth",
    "TorchDefault",
    "TorchInitError",
    "TruncNormal",
    "TruncNormalInit",
    "TruncNormalTF",
    "UPSAMPLE_LAYERS",
    "Uniform",
    "UniformInit",
    "UnknownSchemeError",
    "UnknownTypeError",
    "VarianceScaling",
    "WEIGHT_INITIALIZERS",
    "Xavier",
    "XavierInit",
    "Zeros",
    "adopt_mmengine",
    "bias_init_with_prob",
    "build_activation_layer",
    "build_conv_layer",
    "build_from_cfg",
    "build_model",
    "build_norm_layer",
    "build_padding_layer",
    "build_upsample_layer",
    "caffe2_xavier_init",
    "calculate_gain",
    "constant_init",
    "get_compat",
    "get_torchinit_home",
    "health_check",
    "initialize",
    "is_model_wrapper",
    "kaiming_init",
    "load_checkpoint",
    "load_state_dict",
    "lsuv_init",
    "materialize",
    "normal_init",
    "plan",
    "print_report",
    "probe_activations",
    "read_checkpoint",
    "register_default_init",
    "register_scheme",
    "reproducibility_record",
    "set_compat",
    "tied_parameters",
    "trunc_normal_",
    "trunc_normal_init",
    "uniform_init",
    "update_init_info",
    "xavier_init",
]
