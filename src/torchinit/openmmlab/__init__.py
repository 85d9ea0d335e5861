"""Compatibility with OpenMMLab code (mmengine, mmcv): the layers torchinit recognizes by name.

Nothing here imports mmengine or mmcv at import time.
"""
