"""In-place tensor fills, fan and gain helpers, and mmengine's functions on modules.

Every fill works in place under ``torch.no_grad()``, returns the tensor it filled, and takes
the random generator as the keyword ``generator`` (``None`` means torch's global generator).
This module is the namespace; each fill is re-exported from where it is written: the constant,
normal and uniform fills and the checks every fill shares in ``_core_fills.py``; gains, fans
and variance scaling (Xavier, Kaiming, LeCun and Caffe2-Xavier are specializations of one
core, :func:`variance_scaling_`) in ``_scaling.py``; the truncated normals in
``_trunc_normal.py``; the structural fills (orthogonal, delta-orthogonal, Dirac, eye, sparse,
zeros, ones) in ``_fills.py``; and mmengine's functions on modules in ``_module_init.py``.

Every fill checks its arguments against the tensor's dtype and shape *before* it writes.
Each resolves the scalars it will use in one function, ``_<name>_args(dtype, ...)``, which
raises a :class:`~torchinit.ConfigValueError` when the fill would fail or give a value that
is not finite in that dtype (``constant_`` of 1e39 on float32, ``normal_`` with std 1e4 on
float16). The initializers' ``check_tensor`` calls the same functions, so a rule whose check
passed cannot fail while it writes.
"""

from __future__ import annotations

from ._core_fills import (
    DISTRIBUTIONS,
    FAN_MODES,
    NORMAL_REACH,
    RANDOM_DTYPES,
    SCALING_DISTRIBUTIONS,
    Distribution,
    FanMode,
    ScalingDistribution,
    _check_random_dtype,
    _check_reach,
    _constant_args,
    _dtype_name,
    _normal_args,
    _real,
    _uniform_args,
    constant_,
    normal_,
    uniform_,
)
from ._fills import delta_orthogonal_, dirac_, eye_, ones_, orthogonal_, sparse_, zeros_
from ._module_init import (
    bias_init_with_prob,
    caffe2_xavier_init,
    constant_init,
    kaiming_init,
    normal_init,
    trunc_normal_init,
    uniform_init,
    xavier_init,
)
from ._scaling import (
    NONLINEARITIES,
    _check_distribution,
    caffe2_xavier_,
    calculate_gain,
    compute_fans,
    kaiming_,
    lecun_normal_,
    lecun_uniform_,
    variance_scaling_,
    xavier_,
)
from ._trunc_normal import trunc_normal_, trunc_normal_tf_, truncated_normal_std

__all__ = [
    "bias_init_with_prob",
    "caffe2_xavier_",
    "caffe2_xavier_init",
    "calculate_gain",
    "compute_fans",
    "constant_",
    "constant_init",
    "delta_orthogonal_",
    "dirac_",
    "eye_",
    "kaiming_",
    "kaiming_init",
    "lecun_normal_",
    "lecun_uniform_",
    "normal_",
    "normal_init",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "trunc_normal_init",
    "trunc_normal_tf_",
    "truncated_normal_std",
    "uniform_",
    "uniform_init",
    "variance_scaling_",
    "xavier_",
    "xavier_init",
    "zeros_",
]
