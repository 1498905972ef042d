"""``spacenas report``: tables and plots (:func:`spacenas.reporting.kinds.write_report`) or one
HTML page (:func:`spacenas.reporting.html.write_html_report`) of any kind of run dir
(:mod:`spacenas.reporting.kinds`)."""
from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("dir", help="a run dir of any kind (search, one-shot, supernet, autospace, autospace-search, "
                               "train), a sweep dir, or any dir holding run dirs (a table per kind)")
    r.add_argument("--out", default=None, help="where to write report.md, report.csv and PNGs (default: DIR)")
    r.add_argument("--no-plots", action="store_true", help="tables only")
    r.add_argument("--html", default=None, metavar="OUT.html",
                   help="write one self-contained HTML page of DIR instead")
    r.add_argument("--space", default=None, help="space of a one-shot run's arch (default: guessed)")


def run(args: argparse.Namespace) -> int:
    if args.html:
        from spacenas.reporting.html import write_html_report

        print(write_html_report(args.dir, args.html, args.space))
        return 0
    from spacenas.reporting.kinds import write_report

    rep = write_report(args.dir, out=args.out, plots=not args.no_plots)
    print(rep.markdown)
    for path in rep.files:
        log.info(f"wrote {path}")
    return 0
