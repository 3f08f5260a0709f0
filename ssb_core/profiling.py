"""Measuring wall time and peak memory of a piece of work (used by the benchmarks, never by tests).

Peak memory: on CUDA, ``torch.cuda.max_memory_allocated``; on the CPU, the peak of the process's resident set
size above its level at the start, sampled every 2 ms by a background thread (psutil).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import torch

__all__ = ["Timing", "measure", "RssPeak"]


@dataclass
class Timing:
    """Seconds per repetition (after warm-up) and the peak extra memory in MB."""

    seconds: list[float]
    peak_mb: float

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def percentile(self, q: float) -> float:
        s = sorted(self.seconds)
        return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


class RssPeak:
    """Context manager: the peak resident set size (bytes, ``peak``) of process ``pid`` (default: this one) while
    it is open, and its level at the start (``base``)."""

    def __init__(self, pid: int | None = None) -> None:
        self._proc = psutil.Process(pid)
        self.base = self._proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> "RssPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def measure(work: Callable[[], object], repeats: int = 3, warmup: int = 1, device: torch.device | None = None) -> Timing:
    """Run ``work`` ``warmup`` times, then time ``repeats`` runs; return the times and the peak memory."""
    cuda = device is not None and device.type == "cuda"
    for _ in range(warmup):
        work()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    with RssPeak() as rss:
        for _ in range(repeats):
            t0 = time.perf_counter()
            work()
            if cuda:
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated(device) / 1e6 if cuda else (rss.peak - rss.base) / 1e6
    return Timing(seconds=seconds, peak_mb=peak)
