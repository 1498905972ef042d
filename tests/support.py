"""Shared test helpers, importable by name from every test folder (pytest ``pythonpath = ["tests"]``).

- ``ROOT``: the repository root; ``cli_env()``: the environment for a ``python -m spacenas`` child
  (this tree first on PYTHONPATH, one thread).
- ``LetterSpace``: a user's own tiny space (3 decisions x 3 letters, text form ``"abc"``).
- ``nb201_score`` / ``drive_nb201``: a deterministic score on NB201 and an ask/tell loop (DSM tests).
- ``kill_when``: start a child, SIGKILL it once a condition on its run dir holds (resume tests).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence

from spacenas.evaluators.base import Result
from spacenas.spaces.base import Decision, SearchSpace

ROOT = Path(__file__).resolve().parents[1]

# a good NB201 cell (the DSM-NAS+ tests start from it)
GOOD_NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def cli_env(**extra: str) -> dict[str, str]:
    """os.environ with this checkout first on PYTHONPATH and OMP_NUM_THREADS=1, plus ``extra``."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **extra}


class LetterSpace(SearchSpace):
    """A user's own space: 3 decisions x 3 letters (27 archs); text form 'abc'."""

    name = "letters"

    @property
    def decisions(self):
        return tuple(Decision(f"d{i}", ("a", "b", "c")) for i in range(3))

    def parse(self, text):
        return self.make(["abc".index(c) for c in text])

    def format(self, arch):
        return "".join("abc"[c] for c in arch.choices)


def nb201_score(arch) -> float:
    """Deterministic, non-trivial: rewards op 3 on every edge, with an arch-dependent wiggle."""
    c = arch.choices
    return float(sum(x == 3 for x in c) * 10 + sum(x == 2 for x in c) * 4
                 + (sum(i * x for i, x in enumerate(c)) % 7) * 0.1)


def drive_nb201(strategy, n_asks: int, score: Callable = nb201_score) -> list:
    """``n_asks`` ask/tell steps scored by ``score``; returns the asked archs."""
    asked = []
    for _ in range(n_asks):
        a = strategy.ask()
        strategy.tell(a, Result(score(a), {"test": score(a)}, 1.0))
        asked.append(a)
    return asked


def kill_when(cmd: Sequence[str], ready: Callable[[], bool], env: dict[str, str] | None = None,
              timeout: float = 300.0) -> None:
    """Run ``cmd``; SIGKILL it as soon as ``ready()`` holds (fail if it ends first or never gets there)."""
    victim = subprocess.Popen(list(cmd), env=env or cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert victim.poll() is None, ("the run ended before it could be killed", victim.communicate())
            assert time.monotonic() < deadline, "the run never reached the point to kill it at"
            time.sleep(0.005)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait()
    assert victim.returncode == -signal.SIGKILL
