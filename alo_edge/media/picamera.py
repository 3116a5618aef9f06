"""HARDWARE: the CSI camera through picamera2, its H.264 encoder output passed through.

picamera2's ``H264Encoder`` is the VideoCore hardware encoder on a Pi Zero 2, 3 and 4
and a software encoder with the same API on a Pi 5. Its output (one access unit per
call, SPS/PPS repeated ahead of each IDR with ``repeat=True``) goes to aiortc as
``av.Packet``s through :class:`~alo_edge.media.passthrough.PassthroughTrack`: no
re-encode. Keyframe requests (PLI/FIR, a connection coming up) call the encoder's
``force_key_frame()``.

The encoder's bitrate follows the network while it streams
(:class:`~alo_edge.media.adaptive.AdaptiveBitrate` decides, between ``min_bitrate``
and ``bitrate``). picamera2 sets the bitrate only when recording starts, so
:func:`set_encoder_bitrate` changes it the way each encoder takes it at run time:

- the VideoCore encoder is a V4L2 memory-to-memory device (``/dev/video11``, opened
  as ``encoder.vd``): ``VIDIOC_S_CTRL`` with ``V4L2_CID_MPEG_VIDEO_BITRATE``, the
  very control picamera2 sets at start and the firmware applies from the next frame
  (pi-webrtc drives the same control from libwebrtc's estimate);
- the software encoder (``LibavH264Encoder``, a Pi 5) is libx264 through PyAV:
  writing its codec context's ``bit_rate`` makes FFmpeg reconfigure x264 before the
  next picture. picamera2 keeps that context private (``encoder._stream``); this is
  the one place alo-edge reaches into it.

picamera2 is imported inside functions only: it exists on Raspberry Pi OS (apt
``python3-picamera2``, visible to a venv made with ``--system-site-packages``) and
nowhere else, and every module of alo-edge must import on a laptop.

Threads: the encoder calls its output on picamera2's own thread. That callback
crosses into asyncio in exactly one place, :meth:`PicameraSource._on_access_unit`,
through a :class:`~alo_edge.media.bridge.ThreadBridge`.
"""

from __future__ import annotations

import fcntl
import logging
import struct
import time
from collections.abc import Callable
from typing import Any

from alo_edge.errors import HardwareError
from alo_edge.media.adaptive import AdaptiveBitrate
from alo_edge.media.base import VIDEO_CLOCK_RATE
from alo_edge.media.device import ThreadedDevice
from alo_edge.media.passthrough import AccessUnit, KeyframeRequests, PassthroughTrack

logger = logging.getLogger(__name__)

#: About a second of pictures at 30 fps: enough to ride out a busy loop, little latency.
QUEUE_UNITS = 30
MISSING_PICAMERA2 = (
    "picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2` "
    "and create the venv with `python3 -m venv --system-site-packages` (or set "
    "video.source to 'v4l2', 'file' or 'synthetic')"
)
#: Linux's V4L2 ABI (videodev2.h): VIDIOC_S_CTRL = _IOWR('V', 28, struct v4l2_control),
#: V4L2_CID_MPEG_VIDEO_BITRATE = V4L2_CID_CODEC_BASE + 207.
VIDIOC_S_CTRL = 0xC008561C
V4L2_CID_MPEG_VIDEO_BITRATE = 0x009909CF


def check_picamera2() -> None:
    """Raise HardwareError naming the fix when picamera2 cannot be imported here."""
    try:
        import picamera2  # noqa: F401
    except ImportError as exc:
        raise HardwareError(f"video.source = 'picamera2': {MISSING_PICAMERA2} ({exc})") from None


class PicameraSource(ThreadedDevice[AccessUnit, PassthroughTrack]):
    """The ``picamera2`` video source: camera ``camera_num`` at width x height, fps.

    ``keyframe_interval`` (seconds) becomes the encoder's IDR period; ``bitrate`` the
    most it is asked for, ``min_bitrate`` the least (the rate control moves between
    them). :meth:`start` opens the camera (HardwareError when it is missing or busy),
    :meth:`stop` closes it; :meth:`restart` does both without ending the track.
    """

    kind = "video"

    def __init__(
        self,
        width: int,
        height: int,
        fps: int,
        *,
        bitrate: int,
        keyframe_interval: float,
        min_bitrate: int | None = None,
        camera_num: int = 0,
    ) -> None:
        self.keyframes = KeyframeRequests(self._force_key_frame)
        self.rate_control = AdaptiveBitrate(
            bitrate,
            min(min_bitrate or bitrate, bitrate),
            apply=self._set_bitrate,
            keyframes=self.keyframes,
        )
        super().__init__(QUEUE_UNITS, lambda _bridge: PassthroughTrack(self, self.rate_control))
        self._size = (width - width % 2, height - height % 2)
        self._fps = fps
        self._iperiod = max(1, round(keyframe_interval * fps))
        self._camera_num = camera_num
        self._camera: Any = None
        self._encoder: Any = None
        self._pts_base: float | None = None
        self._awaiting_keyframe = True
        self._dropped_seen = 0
        self._bitrate_failed = False

    @property
    def device_id(self) -> str:
        return f"picamera2:{self._camera_num}"

    def stop(self) -> None:
        """Cancel a deferred keyframe, then end the track and close the camera."""
        self.keyframes.close()
        super().stop()

    def _before_reopen(self) -> None:
        """Drop pictures until the reopened encoder's first keyframe: decoding starts there."""
        self._awaiting_keyframe = True

    def request_keyframe(self) -> None:
        """Force an IDR picture soon (rate-limited)."""
        self.keyframes.request()

    async def next_access_unit(self) -> AccessUnit:
        while True:
            unit = await self._bridge.get()
            if self._bridge.dropped != self._dropped_seen:
                # A picture was thrown away: what follows references what is gone.
                self._dropped_seen = self._bridge.dropped
                if not unit.keyframe and not self._awaiting_keyframe:
                    self._awaiting_keyframe = True
                    self.request_keyframe()
            if self._awaiting_keyframe and not unit.keyframe:
                continue
            self._awaiting_keyframe = False
            if unit.keyframe:
                self.keyframes.keyframe_sent()
            return unit

    def _force_key_frame(self) -> None:
        encoder = self._encoder
        if encoder is not None:
            encoder.force_key_frame()

    def _set_bitrate(self, bitrate: int) -> None:
        encoder = self._encoder
        if encoder is None:
            return  # the next encoder starts at the rate control's target
        try:
            set_encoder_bitrate(encoder, bitrate)
        except (OSError, AttributeError) as exc:  # a driver, or a picamera2, that refuses
            if not self._bitrate_failed:  # once: the control will not work any better later
                self._bitrate_failed = True
                logger.warning(
                    "camera %s: the encoder refused a new bitrate: %s", self._camera_num, exc
                )

    def _on_access_unit(self, data: bytes, keyframe: bool, timestamp_us: int | None) -> None:
        # picamera2's encoder thread: the one crossing into the event loop.
        now = time.monotonic()
        if timestamp_us is None:
            seconds = now
        else:
            if self._pts_base is None:
                # Anchor the sensor clock to monotonic time, so a reopened camera's
                # timestamps continue from where the last one stopped.
                self._pts_base = now - timestamp_us / 1e6
            seconds = self._pts_base + timestamp_us / 1e6
        self._bridge.push(AccessUnit(data, keyframe, int(seconds * VIDEO_CLOCK_RATE)))

    def _open(self) -> None:
        check_picamera2()
        from picamera2 import Picamera2
        from picamera2.encoders import H264Encoder

        self._pts_base = None
        try:
            camera = Picamera2(camera_num=self._camera_num)
        except (IndexError, RuntimeError, OSError) as exc:
            raise HardwareError(f"camera {self._camera_num} cannot be opened: {exc}") from None
        try:
            configuration = camera.create_video_configuration(
                main={"size": self._size, "format": "YUV420"},
                controls={"FrameRate": float(self._fps)},
            )
            camera.configure(configuration)
            bitrate = self.rate_control.target  # a reopened camera keeps what the link takes
            encoder = H264Encoder(bitrate=bitrate, repeat=True, iperiod=self._iperiod)
            camera.start_recording(encoder, _bridge_output(self._on_access_unit))
        except Exception as exc:  # libcamera raises RuntimeError, ValueError, OSError ...
            camera.close()
            raise HardwareError(f"camera {self._camera_num} cannot start: {exc}") from None
        self._camera, self._encoder = camera, encoder
        logger.info(
            "camera %s: %dx%d at %d fps, H.264 %d bit/s, IDR every %d pictures",
            self._camera_num,
            *self._size,
            self._fps,
            bitrate,
            self._iperiod,
        )

    def _close(self) -> None:
        camera, self._camera, self._encoder = self._camera, None, None
        if camera is None:
            return
        try:
            camera.stop_recording()
        except Exception as exc:  # a wedged camera may fail to stop; closing still frees it
            logger.warning("camera %s did not stop cleanly: %s", self._camera_num, exc)
        finally:
            camera.close()


def set_encoder_bitrate(encoder: Any, bitrate: int) -> None:
    """Change a recording picamera2 H.264 encoder's bitrate (see the module docstring)."""
    from picamera2.encoders import LibavH264Encoder

    if isinstance(encoder, LibavH264Encoder):
        encoder._stream.codec_context.bit_rate = bitrate
    else:
        set_v4l2_bitrate(encoder.vd, bitrate)


def set_v4l2_bitrate(
    device: Any, bitrate: int, ioctl: Callable[[Any, int, bytes], Any] = fcntl.ioctl
) -> None:
    """VIDIOC_S_CTRL(V4L2_CID_MPEG_VIDEO_BITRATE) on an open V4L2 encoder; OSError if refused."""
    ioctl(device, VIDIOC_S_CTRL, struct.pack("=Ii", V4L2_CID_MPEG_VIDEO_BITRATE, bitrate))


def _bridge_output(on_access_unit: Any) -> Any:
    """A picamera2 ``Output`` handing each access unit to ``on_access_unit``."""
    from picamera2.outputs import Output

    class BridgeOutput(Output):  # type: ignore[misc]
        def outputframe(
            self,
            frame: Any,
            keyframe: bool = True,
            timestamp: int | None = None,
            packet: Any = None,
            audio: bool = False,
        ) -> None:
            if audio or not self.recording:
                return
            on_access_unit(bytes(frame), bool(keyframe), timestamp)

    return BridgeOutput()
