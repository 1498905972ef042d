"""``spacenas show``: draw an architecture (:func:`spacenas.reporting.pictures.render_arch`)."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="architecture text, or a file that holds it")
    p.add_argument("--space", required=True, help="space of the architecture (nb201, darts, mobilenet, ...)")
    p.add_argument("--out", default="arch", help="output file (.png/.svg), or a name for both (default: arch)")


def run(args: argparse.Namespace) -> int:
    from spacenas.paths import check_output_path
    from spacenas.reporting.pictures import render_arch

    check_output_path(args.out, "--out")  # '', /proc, under a file: one line before drawing
    for p in render_arch(args.arch, args.space, args.out):
        print(p)
    return 0
