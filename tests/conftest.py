"""Shared test setup."""
import pytest


@pytest.fixture(autouse=True)
def _runs_root(tmp_path_factory, monkeypatch):
    """CLI runs started without --run-dir write to a fresh dir under $SPACENAS_RUNS (spacenas.runs):
    keep those of the tests out of the working tree (subprocesses inherit the variable)."""
    monkeypatch.setenv("SPACENAS_RUNS", str(tmp_path_factory.getbasetemp() / "default-runs"))
