"""The picture stamp: frame counter and capture time drawn into a picture's top rows.

A wire contract between the device and the lab: the synthetic source draws it
(:func:`draw_stamp`), the lab reads it back from the decoded picture (:func:`read_stamp`)
to prove frames are fresh and to measure capture-to-decode latency. It is a row of
``STAMP_BITS`` black/white blocks, ``STAMP_HEIGHT`` rows tall, carrying the counter and
the capture time (ms, modulo 2**32), 32 bits each; it survives H.264 at the bitrates
used here. Both sides import it from here so they cannot drift apart.
"""

from __future__ import annotations

import av
import numpy as np

STAMP_BITS = 64
STAMP_HEIGHT = 16


def _stamp_block_width(width: int) -> int:
    return max(width // STAMP_BITS, 1)


def draw_stamp(luma: np.ndarray, counter: int, capture_ms: int) -> None:
    """Write ``counter`` and ``capture_ms`` (32 bits each) as blocks into the top rows."""
    block = _stamp_block_width(luma.shape[1])
    value = (counter & 0xFFFFFFFF) | ((capture_ms & 0xFFFFFFFF) << 32)
    for bit in range(STAMP_BITS):
        luma[:STAMP_HEIGHT, bit * block : (bit + 1) * block] = 235 if value >> bit & 1 else 16


def read_stamp(frame: av.VideoFrame) -> tuple[int, int]:
    """Read ``(counter, capture_ms)`` back from a decoded picture drawn by :func:`draw_stamp`."""
    luma = frame.to_ndarray(format="gray")
    block = _stamp_block_width(luma.shape[1])
    row = STAMP_HEIGHT // 2
    value = 0
    for bit in range(STAMP_BITS):
        centre = luma[row - 2 : row + 2, bit * block + block // 4 : (bit + 1) * block - block // 4]
        if centre.mean() > 128:
            value |= 1 << bit
    return value & 0xFFFFFFFF, value >> 32
