"""The stand-in's ``H264Encoder``: settings, and ``force_key_frame`` as the real one has."""

from __future__ import annotations

import threading


class H264Encoder:
    def __init__(
        self, bitrate: int | None = None, repeat: bool = False, iperiod: int | None = None
    ) -> None:
        self.bitrate = bitrate
        self.repeat = repeat
        self.iperiod = iperiod
        #: How often force_key_frame() was called.
        self.forced = 0
        self._lock = threading.Lock()
        self._pending = False

    def force_key_frame(self) -> None:
        with self._lock:
            self.forced += 1
            self._pending = True

    def take_forced_key_frame(self) -> bool:
        """For the sensor thread: True once after each force_key_frame()."""
        with self._lock:
            pending, self._pending = self._pending, False
            return pending
