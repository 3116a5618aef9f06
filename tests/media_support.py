"""What the media tests make for themselves: H.264 files, tones, ALSA file devices.

Everything here is real: files are encoded by PyAV's libx264, ALSA devices are
alsa-lib ``type file`` PCMs declared in an ``.asoundrc`` that a test points HOME at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from alo_edge.media.filesource import write_h264_file

SENSORS = Path(__file__).parent / "sensors"


def make_h264(
    path: Path,
    *,
    width: int,
    height: int,
    fps: int = 30,
    frames: int,
    gop: int,
    bitrate: int = 1_000_000,
    noise: bool = False,
) -> Path:
    """Write an Annex-B file: an IDR every ``gop`` pictures, SPS/PPS ahead of each IDR.

    The picture is a moving bar over a gradient; ``noise`` adds a moving noisy block,
    so the encoder spends its bitrate the way camera pictures make it.
    """
    rng = np.random.default_rng(7)
    gradient = np.tile(np.linspace(30, 220, width, dtype=np.uint8), (height, 1))

    def pictures() -> Iterator[np.ndarray]:
        for index in range(frames):
            picture = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
            picture[:height] = gradient
            x = (index * 8) % width
            picture[:height, x : x + 16] = 235
            if noise:
                y = (index * 3) % max(height // 2, 1)
                block = rng.integers(16, 235, size=(height // 2, width // 2), dtype=np.uint8)
                picture[y : y + height // 2, : width // 2] = block[: height - y]
            yield picture

    return write_h264_file(
        path,
        pictures(),
        width=width,
        height=height,
        fps=fps,
        gop=gop,
        bitrate=bitrate,
        preset="ultrafast",
    )


def tone(frequency: float, seconds: float, rate: int = 48_000, level: float = 0.3) -> bytes:
    """Mono s16le samples of a sine tone."""
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * frequency * t) * level * 32767).astype("<i2").tobytes()


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """The frequency (Hz) with the most energy in ``samples`` (mono)."""
    values = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(values * np.hanning(len(values))))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * rate / len(values))


def write_asoundrc(home: Path, *, capture: dict[str, Path], playback: dict[str, Path]) -> Path:
    """Declare ``type file`` PCMs: capture reads ``infile``, playback writes ``file``.

    alsa-lib reads ``$HOME/.asoundrc`` once per process (on the first PCM opened), so
    a process that opens ALSA must have HOME pointing here before it does.
    """
    lines = []
    for name, infile in capture.items():
        lines.append(
            f'pcm.{name} {{ type file; slave.pcm "null"; file "/dev/null"; '
            f'infile "{infile}"; format "raw" }}'
        )
    for name, outfile in playback.items():
        lines.append(
            f'pcm.{name} {{ type file; slave.pcm "null"; file "{outfile}"; format "raw" }}'
        )
    path = home / ".asoundrc"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
