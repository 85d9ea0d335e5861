"""mmengine's own words about a parameter (``_params_init_info``), read back as a law.

mmengine's initializer classes describe themselves as ``'KaimingInit: a=0, mode=fan_out,
nonlinearity=relu, distribution =normal, bias=0'``; the tensor named ``*.weight`` got the fill,
``*.bias`` the constant. Texts about user code ("Initialized by user-defined `init_weights` in
X") or untouched tensors ("The value is the same ...") name no law.
"""

from __future__ import annotations

import _dists as D

__all__ = ["law_from_info"]


def _fields(text: str) -> dict[str, str]:
    out = {}
    for part in text.split(","):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def law_from_info(info: str, name: str, shape: tuple[int, ...]) -> D.Dist | None:
    """The law mmengine's text ``info`` promises for the tensor ``name`` of ``shape`` (None: no law named)."""
    kind, sep, rest = info.partition(":")
    if not sep or not kind.endswith("Init") or " " in kind:
        return None
    f = _fields(rest)
    role = name.rsplit(".", 1)[-1]
    if role == "bias" and "bias" in f:
        return D.constant(float(f["bias"]), f"{kind} bias={f['bias']}")
    if role != "weight":
        return None
    if kind == "ConstantInit":
        return D.constant(float(f["val"]), f"{kind} val={f['val']}")
    if kind == "NormalInit":
        return D.normal(float(f["mean"]), float(f["std"]), f"{kind} mean={f['mean']} std={f['std']}")
    if kind == "TruncNormalInit":
        return D.truncated_normal(float(f["mean"]), float(f["std"]), float(f["a"]), float(f["b"]), kind)
    if kind == "UniformInit":
        return D.uniform(float(f["a"]), float(f["b"]), kind)
    if kind == "XavierInit":
        return D.xavier(shape, float(f["gain"]), f["distribution"])
    if kind in ("KaimingInit", "Caffe2XavierInit"):
        return D.kaiming(shape, float(f["a"]), f["mode"], f["nonlinearity"], f["distribution"])
    return None
