"""The hardware-in-the-loop bench (``scripts/hil-bench``), split by job.

- ``wiring``: the wiring file (panel pins, sense pins, limits) and the bench device's config;
- ``instruments``: sense inputs, the button drive, the virtual (MockFactory) jumpers, and
  the session's events as the bench records them;
- ``measure``: LED pattern and follow-lag measurement on recorded edges (pure);
- ``report``: the checks, as a table or JSON;
- ``run``: the :class:`~alo_edge.tools.hil_bench.run.Bench` and the command line.

``python -m alo_edge.tools.hil_bench`` runs it.
"""
