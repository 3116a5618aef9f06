"""``python -m alo_edge.cli``: the same as the ``alo-edge`` console script."""

from __future__ import annotations

import sys

from alo_edge.cli import main

sys.exit(main())
