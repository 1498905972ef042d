"""Tabular benchmarks shipped with the package (no download, ever)."""
from spacenas.benchmarks.nb201 import NB201Benchmark, load_nb201

__all__ = ["NB201Benchmark", "load_nb201"]
