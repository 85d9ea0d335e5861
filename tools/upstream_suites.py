"""Which upstream tests tools/upstream_tests.py runs, and where torchinit differs on purpose.

Three kinds of entries, each with its reason:

* ``deselect``: tests of things torchinit does not ship (out of scope; not run).
* ``expected``: tests that fail because of a deliberate difference listed in the README's
  "Differences from mmengine" table (``difference`` names the row). ``match`` must occur in
  the failure message, so a test failing for another reason is still a failure.
* ``adaptations``: tests where only single assertions meet a deliberate difference. The
  published test must fail with one of the ``match`` texts, and a copy with ``old``
  replaced by ``new`` must pass, so the rest of the test still counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Expected:
    """A test expected to fail, and why."""

    reason: str
    match: str
    difference: str


@dataclass(frozen=True)
class Adaptation:
    """One assertion of a test rewritten where torchinit differs on purpose."""

    old: str
    new: str
    match: str
    reason: str
    difference: str
    count: int = 1


@dataclass(frozen=True)
class Suite:
    """Test files of one repository at one ref, and what is expected of them."""

    name: str
    repo: str
    ref: str
    files: tuple[str, ...]
    out_of_scope_files: Mapping[str, str]
    deselect: Mapping[str, str] = field(default_factory=dict)
    expected: Mapping[str, Expected] = field(default_factory=dict)
    adaptations: Mapping[str, tuple[Adaptation, ...]] = field(default_factory=dict)


# The README rows the entries below stand on ("Differences from mmengine"; rows marked
# "proposed" are not in the README yet).
ASSERTS = (
    "bad config (README): where mmengine/mmcv assert on user input, torchinit raises its own error, "
    "also a TypeError/ValueError (SPEC: never assert on user input)"
)
ORDER = "proposed: ConvModule's order may be any sequence of 'conv', 'norm', 'act' (mmcv: a tuple)"
BIAS_WARNING = (
    "proposed: ConvModule's bias warning is mmcv's sentence plus the fix (same start, filters match)"
)
TORCH_ACTS = "proposed: 'Swish' and 'HSwish' are torch's nn.SiLU and nn.Hardswish (mmcv: its own classes)"


def _raises(builtin: str, following: str, match: str = "", count: int = 1) -> Adaptation:
    """``pytest.raises(AssertionError)`` before the line ``following``, widened to accept ``builtin``.

    ``match``: what the published test's failure says when this is its first failing spot.
    """
    return Adaptation(
        old=f"with pytest.raises(AssertionError):\n        {following}",
        new=f"with pytest.raises((AssertionError, {builtin})):\n        {following}",
        match=match,
        reason=f"torchinit raises a {builtin} where mmcv asserts",
        difference=ASSERTS,
        count=count,
    )


_CONV_MODULE = {
    "tests/test_cnn/test_conv_module.py::test_conv_module": (
        _raises("TypeError", "# conv_cfg must be a dict or None", "conv_cfg must be a dict or None"),
        _raises("TypeError", "# norm_cfg must be a dict or None", "norm_cfg must be a dict or None"),
    ),
    "tests/test_cnn/test_conv_module.py::test_bias": (
        Adaptation(
            old="assert record[0].message.args[\n        0] == 'Unnecessary conv bias before batch/instance norm'",
            new="assert record[0].message.args[\n        0].startswith('Unnecessary conv bias before batch/instance norm')",
            match="Unnecessary",
            reason="the warning says how to drop the bias after mmcv's sentence",
            difference=BIAS_WARNING,
            count=2,
        ),
    ),
    "tests/test_cnn/test_conv_module.py::test_order": (
        Adaptation(
            old="with pytest.raises(AssertionError):\n        # order must be a tuple",
            new="if True:  # torchinit accepts a list\n        # order must be a tuple",
            match="DID NOT RAISE",
            reason="torchinit accepts any sequence as order",
            difference=ORDER,
        ),
        _raises("ValueError", "# length of order must be 3"),
        _raises("ValueError", "# order must be an order of 'conv', 'norm', 'act'", count=2),
    ),
}
_BRICKS = {
    "tests/test_cnn/test_build_layers.py::test_build_norm_layer": (
        _raises(
            "TypeError",
            "# postfix must be int or str\n        cfg = dict(type='BN')",
            "postfix must be an int",
        ),
        _raises("TypeError", "# `num_groups` must be in cfg when using 'GN'"),
    ),
    "tests/test_cnn/test_hsigmoid.py::test_hsigmoid": (
        _raises("ValueError", "HSigmoid(divisor=0)", "divisor must not be 0"),
    ),
    "tests/test_cnn/test_swish.py::test_swish": (
        Adaptation(
            old="assert torch.equal(output, expected_output)",
            new="assert torch.allclose(output, expected_output, rtol=1e-6, atol=1e-7)",
            match="built-in method equal",
            reason="'Swish' is nn.SiLU, which computes x·sigmoid(x) fused (equal up to rounding)",
            difference=TORCH_ACTS,
        ),
    ),
    **_CONV_MODULE,
}
_WEIGHT_INIT = {
    f"tests/test_cnn/test_weight_init.py::test_{fn}": (
        _raises("ValueError", f"{fn}(conv_module, distribution='student-t')", "distribution must be"),
    )
    for fn in ("xavier_init", "kaiming_init")
}
_NO_PLUGINS = {
    "tests/test_cnn/test_build_layers.py::test_build_plugin_layer": "plugin layers are not shipped by torchinit",
    "tests/test_cnn/test_build_layers.py::test_infer_plugin_abbr": "plugin layers are not shipped by torchinit",
    "tests/test_cnn/test_hswish.py::test_hswish": (
        "tests mmcv's own HSwish class (its .act ReLU6), used by mmcv only for torch < 1.7; "
        "torchinit registers torch's nn.Hardswish as 'HSwish', as mmcv does on torch >= 1.7"
    ),
}
_BRICKS_FILES = tuple(
    f"tests/test_cnn/test_{name}.py"
    for name in ("build_layers", "conv_module", "hsigmoid", "hswish", "silu", "swish")
)
_BRICKS_OUT_OF_SCOPE = {
    "test_context_block.py, test_generalized_attention.py, test_non_local.py": "plugin layers: not shipped",
    "test_conv2d_adaptive_padding.py, test_depthwise_seperable_conv_module.py, test_scale.py": (
        "bricks torchinit does not ship (register them in torchinit.MODELS to build them by name)"
    ),
    "test_wrappers.py": "mmcv's empty-tensor wrappers for torch < 1.5; torchinit registers torch's classes",
    "test_transformer.py": "transformer bricks: not shipped",
    "test_flops_counter.py, test_fuse_conv_bn.py": "model analysis and fusion utilities, not initialization",
    "test_rfsearch/": "receptive-field search hooks, not initialization",
}

SUITES: Mapping[str, Suite] = MappingProxyType(
    {
        s.name: s
        for s in (
            Suite(
                name="mmengine-0.10.7",
                repo="mmengine",
                ref="v0.10.7",
                files=("tests/test_model/test_base_module.py",),
                out_of_scope_files={
                    "tests/test_model/test_efficient_conv_bn_eval.py": "mmengine's torch.fx rewrite of a whole "
                    "model, not initialization (torchinit's ConvModule has efficient_conv_bn_eval itself)",
                    "tests/test_model/test_*.py (others)": "models, data preprocessors, wrappers, averaging, TTA",
                },
            ),
            Suite(
                name="mmcv-1.7.2",
                repo="mmcv",
                ref="v1.7.2",
                files=("tests/test_cnn/test_weight_init.py", *_BRICKS_FILES),
                out_of_scope_files={
                    **_BRICKS_OUT_OF_SCOPE,
                    "test_model_registry.py": "mmcv 1.x's MODELS / build_model_from_cfg (torchinit.MODELS differs)",
                    "test_revert_syncbn.py": "a SyncBN conversion utility, not initialization",
                },
                deselect=_NO_PLUGINS,
                adaptations={**_BRICKS, **_WEIGHT_INIT},
            ),
            Suite(
                name="mmcv-2.2.0",
                repo="mmcv",
                ref="v2.2.0",
                files=_BRICKS_FILES,
                out_of_scope_files={
                    **_BRICKS_OUT_OF_SCOPE,
                    "test_weight_init.py": "not in mmcv 2.x (moved to mmengine, which has no such test file)",
                },
                deselect=_NO_PLUGINS,
                adaptations=_BRICKS,
            ),
        )
    }
)
