"""Shim: ``mmengine.model`` is torchinit's BaseModule, containers and init functions.

``mmengine.model.base_module`` *is* ``torchinit.module`` (the same module object), so a test
that patches ``mmengine.model.base_module.is_model_wrapper`` patches torchinit's.
"""

import sys

import torchinit.module as base_module
from torchinit import (
    BaseInit,
    BaseModule,
    Caffe2XavierInit,
    ConstantInit,
    KaimingInit,
    ModuleDict,
    ModuleList,
    NormalInit,
    PretrainedInit,
    Sequential,
    TruncNormalInit,
    UniformInit,
    XavierInit,
    bias_init_with_prob,
    caffe2_xavier_init,
    constant_init,
    initialize,
    is_model_wrapper,
    kaiming_init,
    normal_init,
    trunc_normal_,
    trunc_normal_init,
    uniform_init,
    xavier_init,
)

sys.modules[f"{__name__}.base_module"] = base_module

__all__ = [
    "BaseInit",
    "BaseModule",
    "Caffe2XavierInit",
    "ConstantInit",
    "KaimingInit",
    "ModuleDict",
    "ModuleList",
    "NormalInit",
    "PretrainedInit",
    "Sequential",
    "TruncNormalInit",
    "UniformInit",
    "XavierInit",
    "bias_init_with_prob",
    "caffe2_xavier_init",
    "constant_init",
    "initialize",
    "is_model_wrapper",
    "kaiming_init",
    "normal_init",
    "trunc_normal_",
    "trunc_normal_init",
    "uniform_init",
    "xavier_init",
]
