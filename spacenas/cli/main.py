"""Command line: ``spacenas search | sweep | report | train | show | autospace | autospace-search | list``
(also ``python -m spacenas``).

Each subcommand lives in its own module of :mod:`spacenas.cli` (``add_arguments(parser)`` declares
its flags, ``run(args) -> int`` builds typed configs and calls one library function); shared
option parsing is :mod:`spacenas.cli.options`. Bad input never gives a traceback: a
:class:`SpacenasError` (or an argparse error) becomes one line on stderr, ``spacenas: error: ...``,
and exit code 2. Only this top level catches them.
"""
from __future__ import annotations

import argparse
import logging
import sys

from spacenas import __version__
from spacenas.cli import autospace, config_file, report, search, show, sweep, train
from spacenas.cli import list as list_cmd
from spacenas.cli.options import Parser
from spacenas.errors import SpacenasError

#: subcommand -> (help, add_arguments, run)
COMMANDS = {
    "search": ("run one search and print the found architecture", search.add_arguments, search.run),
    "sweep": ("run methods x datasets x seeds", sweep.add_arguments, sweep.run),
    "report": ("aggregate a sweep dir into tables and plots", report.add_arguments, report.run),
    "train": ("retrain an architecture from scratch; report accuracy, params, MAdds; export",
              train.add_arguments, train.run),
    "show": ("draw an architecture as PNG/SVG", show.add_arguments, show.run),
    "autospace": ("learn a layer-wise space of open cells (AutoSpace DEA); save it",
                  autospace.add_autospace_arguments, autospace.run_autospace),
    "autospace-search": ("search a learned (or the manual IRB) layer-wise space; train and report the network found",
                         autospace.add_search_arguments, autospace.run_search),
    "list": ("list the spaces, methods, data sets, devices or presets, one line each", list_cmd.add_arguments, list_cmd.run),
}


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="spacenas", description="Neural architecture search with first-class search spaces.")
    p.add_argument("--version", action="version", version=f"spacenas {__version__}")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help="only results and errors (no 'wrote ...' notes)")
    g.add_argument("-v", "--verbose", action="store_true", help="also debug messages")
    sub = p.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    sub.required = True
    for name, (help_, add_arguments, _) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_)
        add_arguments(sp)
        config_file.add_arguments(sp, files=name not in config_file.NOT_CONFIGURABLE)
    return p


class StderrHandler(logging.StreamHandler):
    """A stream handler writing to the ``sys.stderr`` of the moment (not the one at its creation),
    so redirected or captured stderr gets the messages."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def setup_logging(quiet: bool, verbose: bool) -> None:
    """Messages of the ``spacenas`` loggers go to stderr, one line each: warnings only with
    ``-q``, info by default, debug with ``-v``."""
    logger = logging.getLogger("spacenas")
    logger.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    if not any(isinstance(h, StderrHandler) for h in logger.handlers):
        h = StderrHandler()
        h.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(h)
        logger.propagate = False


#: subcommand -> what a Ctrl-C leaves of it, where that is not a --run-dir's checkpoint
INTERRUPT_HINTS = {"sweep": sweep.interrupt_hint}


def interrupt_hint(args: argparse.Namespace | None) -> str | None:
    """What a Ctrl-C leaves: ``--resume`` only helps when a checkpoint was written."""
    from pathlib import Path

    if args is None:
        return None
    if args.command in INTERRUPT_HINTS:
        return INTERRUPT_HINTS[args.command](args)
    if not hasattr(args, "run_dir"):  # report, show, list: nothing to continue
        return None
    run_dir = args.run_dir
    if not run_dir:
        return "nothing was saved: no --run-dir"
    d = Path(run_dir)
    if d.is_dir() and any(d.glob("checkpoint.*")):
        return f"continue with --resume --run-dir {run_dir}"
    return f"no checkpoint was written yet, so --resume cannot continue it: delete {run_dir} and start again"


def main(argv: list[str] | None = None) -> int:
    args = None
    try:
        parser = build_parser()
        args = config_file.parse(parser, argv)  # flags over --config over --preset over defaults
        setup_logging(args.quiet, args.verbose)
        if getattr(args, "print_config", False):
            print(config_file.dump(args.command, config_file.subcommands(parser)[args.command], args), end="")
            return 0
        from spacenas.plugins import load_plugins

        load_plugins(args.plugin or ())  # entry points (group spacenas.plugins), then --plugin
        fresh = None  # no --run-dir: a fresh runs/<kind>-<method>-<time>, named on the last line
        if hasattr(args, "run_dir") and args.run_dir is None and not getattr(args, "resume", False):
            from spacenas.runs import fresh_run_dir
            fresh = fresh_run_dir(args.command, getattr(args, "method", None), getattr(args, "space", None))
            args.run_dir = str(fresh) if fresh is not None else None
        rc = int(COMMANDS[args.command][2](args) or 0)
        if fresh is not None and rc == 0:
            print(f"run dir: {fresh}", file=sys.stderr if getattr(args, "json", False) else sys.stdout)
        return rc
    except SpacenasError as e:
        # one line, also when the message quotes a name holding a line break (a dir named $'rd\nX')
        print("spacenas: error: " + str(e).replace("\r", "\\r").replace("\n", "\\n"), file=sys.stderr)
        return 2
    except BrokenPipeError:  # `spacenas report DIR | head`: the reader left; no traceback
        import os

        # (a sweep's worker pipes fail as BrokenProcessPool, so a BrokenPipeError here is stdout's;
        # a flush cannot tell: the failed write already dropped the buffer)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit flush must not fail again
        return 141  # 128 + SIGPIPE, as a shell reports a process killed by it
    except KeyboardInterrupt:
        hint = interrupt_hint(args)
        print("spacenas: interrupted" + (f" ({hint})" if hint else ""), file=sys.stderr)
        return 130
