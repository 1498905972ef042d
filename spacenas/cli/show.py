"""``spacenas show``: draw an architecture (:func:`spacenas.reporting.pictures.render_arch`)."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="architecture text, or a file that holds it")
    p.add_argument("--space", required=True, help="space of the architecture (nb201, darts, mobilenet, ...)")
    p.add_argument("--out", default="arch", help="output file (.png/.svg), or a name for both (default: arch)")


def run(args: argparse.Namespace) -> int:
    from spacenas.reporting.pictures import render_arch

    for p in render_arch(args.arch, args.space, args.out):
        print(p)
    return 0
