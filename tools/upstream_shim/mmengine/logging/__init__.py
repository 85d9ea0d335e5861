"""Shim: ``mmengine.logging``: only MMLogger, a plain ``logging.Logger`` (see ``logger.py``)."""

from .logger import MMLogger

__all__ = ["MMLogger"]
