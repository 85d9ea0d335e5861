"""The public API is pinned: ``torchinit.__all__`` lists exactly the public names."""

from __future__ import annotations

import inspect

import torchinit


def test_all_lists_exactly_the_public_names_sorted_without_duplicates() -> None:
    public = {
        name
        for name, value in vars(torchinit).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert torchinit.__all__ == sorted(torchinit.__all__)
    assert len(torchinit.__all__) == len(set(torchinit.__all__))
    assert set(torchinit.__all__) == public
