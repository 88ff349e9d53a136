"""ITU-R BS.1770 / EBU R128 integrated loudness of a voice's samples, in numpy.

Why: the pipeline calibrates the voice track's gain on the first seconds of speech while later
sentences are still being synthesized (backend.media.voice_track). Measuring that with ffmpeg's
ebur128 took two or three ffmpeg runs, about 0.3 s of CPU taken from the synthesis on 2 cores;
this takes a few milliseconds. The K-weighting is the standard's two biquads, designed for the
sample rate as libebur128 does; they are applied as their impulse response (both decay to nothing
within 50 ms), convolved by FFT, so no per-sample Python loop runs over the voice. ffmpeg's own
meter still checks the track that comes out.
"""

from __future__ import annotations

import functools
import math

import numpy as np

_IR_S = 0.25  # the K-weighting's impulse response is below 1e-12 of its start after ~60 ms


def _biquads(rate: int) -> list[tuple[tuple[float, float, float], tuple[float, float]]]:
    """((b0, b1, b2), (a1, a2)) of the high shelf and the high pass, for this rate."""
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = (
        ((vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0),
        (2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0),
    )
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    high_pass = ((1.0, -2.0, 1.0), (2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0))
    return [shelf, high_pass]


@functools.lru_cache(maxsize=8)
def _impulse_response(rate: int) -> np.ndarray:
    n = max(16, int(rate * _IR_S))
    signal = [0.0] * n
    signal[0] = 1.0
    for (b0, b1, b2), (a1, a2) in _biquads(rate):
        out = [0.0] * n
        x1 = x2 = y1 = y2 = 0.0
        for i, x in enumerate(signal):
            y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            out[i] = y
            x2, x1, y2, y1 = x1, x, y1, y
        signal = out
    return np.asarray(signal, dtype=np.float64)


def k_weighted(samples: np.ndarray, rate: int) -> np.ndarray:
    """The samples (float, full scale 1.0) through the K-weighting filter."""
    ir = _impulse_response(rate)
    size = len(samples) + len(ir) - 1
    n = 1 << max(1, (size - 1).bit_length())
    spectrum = np.fft.rfft(samples.astype(np.float64), n) * np.fft.rfft(ir, n)
    return np.fft.irfft(spectrum, n)[: len(samples)]


def integrated(samples: np.ndarray, rate: int, channels: int = 1) -> float:
    """Integrated loudness (LUFS) of mono samples played on `channels` identical channels (a mono
    voice upmixed to stereo measures 3 LU louder); -inf for silence or too little sound."""
    block, step = round(0.4 * rate), round(0.1 * rate)
    if len(samples) < block:
        return -math.inf
    weighted = k_weighted(samples, rate)
    power = np.concatenate([[0.0], np.cumsum(weighted * weighted)])
    starts = np.arange(0, len(samples) - block + 1, step)
    z = (power[starts + block] - power[starts]) / block * channels
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10 * np.log10(z)
    z = z[loud > -70.0]  # absolute gate
    if len(z) == 0:
        return -math.inf
    relative = -0.691 + 10 * math.log10(float(np.mean(z))) - 10.0
    z = z[-0.691 + 10 * np.log10(z) > relative]
    return -0.691 + 10 * math.log10(float(np.mean(z))) if len(z) else -math.inf


def pcm16(data: bytes) -> np.ndarray:
    """Little-endian int16 samples as floats at full scale 1.0."""
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
