"""Diagnostics: checking a model after initialization (private implementation).

The public names live in :mod:`torchinit` and :mod:`torchinit.health`; this package only
groups the modules that implement them, and importing it loads none of them::

    _health           health_check: each tensor against its rule's promise, NaN/Inf, stray zeros, ties
    _promises         what a rule promises about the values it writes (mean, std, range, constant)
    _promise_checks   the promise builders of the deterministic and structured initializers
    _probe            activation statistics through depth (forward hooks)
    _record           the reproducibility record (seed, versions, checkpoints)
    _render           rich tables (plain text off a terminal), print_report
    _plot             matplotlib plots of measured vs promised std
"""
