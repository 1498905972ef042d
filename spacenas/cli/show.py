"""``spacenas show``: draw an architecture (:func:`spacenas.reporting.pictures.render_arch`)."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("arch", help="architecture text, a file that holds it, or a finished search run dir")
    p.add_argument("--space", default=None,
                   help="space of the architecture (nb201, darts, mobilenet, ...; default: the run dir's, or the "
                        "one space whose format the text fits)")
    p.add_argument("--out", default="arch", help="output file (.png/.svg), or a name for both (default: arch)")


def run(args: argparse.Namespace) -> int:
    from spacenas.paths import check_output_path
    from spacenas.reporting.pictures import render_arch

    from spacenas import registry
    from spacenas.archsource import resolve_arch, space_of_arch

    check_output_path(args.out, "--out")  # '', /proc, under a file: one line before drawing
    space = registry.space(args.space if args.space is not None else space_of_arch(args.arch))
    for p in render_arch(resolve_arch(args.arch, space), space, args.out):
        print(p)
    return 0
