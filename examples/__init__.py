"""Example models built only from torchinit's bricks and config dicts.

:mod:`examples.models` has the configs and ``build_detector`` / ``build_vit``;
:mod:`examples.detector` and :mod:`examples.vit` the model classes, registered in
``torchinit.MODELS``.
"""
