"""An early estimate of a run's total time, measured from its first steps (one line on stderr).

:class:`StepTimer` is told the number of steps ahead; after each step the loop calls
:meth:`StepTimer.step`. The first ``skip`` steps (start-up: allocation, lazy init) are not
timed; once ``measure`` more are done it prints once, e.g.
``estimated time: 2h 05m (0.384 s/step x 19550 steps, from steps 2-6)``.
It refuses nothing and prints nothing for runs too short to measure. The clock is injectable
(tests use a fake one; real runs use :func:`time.perf_counter`).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``45s``, ``12m 05s``, ``27h 03m``. Hand: 7385 -> ``2h 03m``; 65 -> ``1m 05s``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


class StepTimer:
    """Prints ``estimated time ...`` once, after ``skip + measure`` steps of ``total`` (see module)."""

    def __init__(self, total: int, what: str = "run", *, skip: int = 1, measure: int = 5,
                 extra_seconds: float = 0.0, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.perf_counter, enabled: bool = True) -> None:
        self.total, self.what, self.skip, self.measure = int(total), what, skip, measure
        self.extra_seconds = extra_seconds
        self.stream, self.clock = stream, clock
        self.enabled = enabled and self.total > skip + measure
        self.done, self.t0 = 0, None
        self.line: str | None = None

    def step(self) -> None:
        if not self.enabled or self.line is not None:
            return
        self.done += 1
        if self.done == self.skip:
            self.t0 = self.clock()
        elif self.done == self.skip + self.measure:
            per = (self.clock() - self.t0) / self.measure
            total = per * self.total + self.extra_seconds
            self.line = (f"estimated time for this {self.what}: {format_duration(total)} ({per:.3g} s/step x "
                         f"{self.total} steps, from steps {self.skip + 1}-{self.skip + self.measure})")
            self._print(self.line)

    def _print(self, line: str) -> None:
        from tqdm.auto import tqdm
        tqdm.write(line, file=self.stream or sys.stderr)  # above any progress bar
