"""Runs finished per minute, from the scheduler's run total sampled at each health refresh."""

from __future__ import annotations

__all__ = ["RunRate"]

import itertools

#: samples older than this are dropped (the sparkline shows 30 minutes)
_HORIZON_SECONDS = 31 * 60


class RunRate:
    """``(monotonic seconds, runs_total)`` samples, bucketed into minutes on demand."""

    def __init__(self) -> None:
        self._samples: list[tuple[float, int]] = []

    def sample(self, now: float, runs_total: int) -> None:
        """Record the run total seen at monotonic instant ``now``."""
        self._samples.append((now, runs_total))
        horizon = now - _HORIZON_SECONDS
        while len(self._samples) > 2 and self._samples[1][0] < horizon:
            self._samples.pop(0)

    def per_minute(self, minutes: int = 30) -> list[int]:
        """Runs finished per minute over the last ``minutes`` minutes (oldest first), as far
        back as the samples go."""
        samples = self._samples
        if len(samples) < 2:
            return []
        end = samples[-1][0]
        buckets = [0] * minutes
        for (_, n0), (t1, n1) in itertools.pairwise(samples):
            index = minutes - 1 - int((end - t1) // 60)
            if 0 <= index < minutes and n1 > n0:
                buckets[index] += n1 - n0
        first = max(0, minutes - 1 - int((end - samples[0][0]) // 60))
        return buckets[first:]
