"""Development tools: the demo harness and the benches, on top of the service.

Nothing in the device's parts imports this package. Like ``cli.py`` and ``app.py``, the
tools may choose implementations and start the lab; the device never needs them.

- ``lab_device``: a local lab, a device token for it and a device config pointing at it;
- ``demo``: ``alo-edge demo``, the lab and a synthetic device in one process;
- ``bench_media``, ``bench_soak``: ``scripts/bench media`` and ``scripts/bench soak``;
- ``hil_bench``: ``scripts/hil-bench``, the hardware-in-the-loop bench.
"""
