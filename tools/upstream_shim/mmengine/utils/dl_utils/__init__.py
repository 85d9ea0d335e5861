"""Shim: ``mmengine.utils.dl_utils``: ``TORCH_VERSION`` only."""

import torch

TORCH_VERSION = torch.__version__
