"""Shim: the parts of ``mmengine`` that mmengine's and mmcv's own tests import, mapped to torchinit.

Only ``tools/upstream_tests.py`` puts this folder on ``sys.path``; it is not part of torchinit.
"""
