"""``python -m torchinit``: the ``torchinit`` command (see :mod:`torchinit.cli`)."""

from .cli import main

raise SystemExit(main())
