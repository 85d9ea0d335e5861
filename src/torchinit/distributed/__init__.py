"""Sharding-invariant initialization: the band seed scheme and sharded (DTensor) tensors.

With a seed, torchinit defines a tensor's values on the *global* tensor, band by band
(:mod:`.bands`), so the same model gets bitwise the same weights in one process or on any
number of ranks, whatever the placements (FSDP2 ``fully_shard``, tensor parallel, 2-D
meshes). Each rank writes only its own shard (:mod:`.sharded`); one process fills the bands
of a big tensor on all its threads (:mod:`.fills`). See docs/distributed.md.
"""

from .bands import BAND_ELEMENTS, SCHEME, band_elements, describe_scheme
from .sharded import is_sharded

__all__ = ["BAND_ELEMENTS", "SCHEME", "band_elements", "describe_scheme", "is_sharded"]
