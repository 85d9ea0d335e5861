"""Shim: the parts of ``mmcv`` (1.7 and 2.x) that its own bricks and weight-init tests import.

Only ``tools/upstream_tests.py`` puts this folder on ``sys.path``; it is not part of torchinit.
"""
