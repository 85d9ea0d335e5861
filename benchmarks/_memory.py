"""Peak memory of one step of a process, as the kernel counts it (Linux).

``ru_maxrss`` is the process's high-water mark over its whole life, and it survives
``exec``: a child spawned while its parent held gigabytes starts with the parent's peak.
These read ``VmHWM``, reset to the current RSS just before the step instead.
"""

from __future__ import annotations

import ctypes
import gc
import re
from pathlib import Path

__all__ = ["peak_since_reset", "release_and_reset_peak", "status_kib"]


def status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    text = Path("/proc/self/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, flags=re.M)
    if found is None:
        raise RuntimeError(f"/proc/self/status has no {field}: peak memory cannot be measured here")
    return int(found.group(1))


def release_and_reset_peak() -> int:
    """Free what can be freed, reset ``VmHWM`` to the current RSS, and return that RSS in bytes."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return status_kib("VmRSS") * 1024


def peak_since_reset() -> int:
    """``VmHWM`` in bytes: the highest RSS since :func:`release_and_reset_peak`."""
    return status_kib("VmHWM") * 1024
