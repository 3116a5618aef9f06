"""``python -m alo_edge.tools.hil_bench [--virtual] [--json] [--wiring FILE]``."""

from __future__ import annotations

import sys

from alo_edge.tools.hil_bench.run import main

sys.exit(main())
