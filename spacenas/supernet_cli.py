"""CLI glue for query-based search on supernet spaces (``spacenas search|sweep --space mobilenet``).

``--data`` (or ``--dataset``) names the image data set the supernet is trained on (default:
digits), ``--data-dir`` where its files are, ``--epochs`` the supernet training epochs,
``--madds-limit`` the MAdds constraint (``1.5M`` or a percentile ``50%``), ``--supernet KEY=VALUE``
any other :class:`~spacenas.evaluators.supernet_run.SupernetRunConfig` option (``train_limit``,
``valid_limit``, ``shape``, ``calib_size``, ``lr``, ``batch_size``, ...), ``--device`` the torch device.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from spacenas.config import parse_value
from spacenas.errors import SpacenasError


def add_supernet_arguments(p: argparse.ArgumentParser, data_flags: bool) -> None:
    """The supernet-space flags; ``data_flags``: also --data-dir, --epochs, --device (a sweep's parser
    has none of them; the search parser already has them in its one-shot group)."""
    g = p.add_argument_group("supernet spaces (mobilenet: query-based methods on a trained supernet)")
    g.add_argument("--madds-limit", default=None, metavar="X",
                   help="feasible iff MAdds <= X: a number (suffix k, M, G) or a percentile of random archs, "
                        "e.g. 50%%")
    g.add_argument("--supernet", dest="supernet_options", action="append", default=None, metavar="KEY=VALUE",
                   help="supernet option (repeatable): epochs, madds_limit, train_limit, valid_limit, "
                        "valid_fraction, shape (JSON), lr, batch_size, calib_size, eval_batch_size")
    if data_flags:
        g.add_argument("--data-dir", default=None, help="directory of the data set files")
        g.add_argument("--epochs", type=int, default=None, help="supernet training epochs (default: 10)")
        g.add_argument("--device", default=None, help="torch device (default: cpu)")


def supernet_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--supernet`` pairs plus ``--epochs`` / ``--madds-limit`` as a dict (checked later)."""
    out: dict[str, Any] = {}
    for pair in getattr(args, "supernet_options", None) or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise SpacenasError(f"bad --supernet {pair!r}: expected key=value")
        out[key.strip()] = parse_value(raw, f"--supernet {key.strip()}")  # JSON or text; bounded nesting
    for flag, key in (("epochs", "epochs"), ("madds_limit", "madds_limit")):
        v = getattr(args, flag, None)
        if v is not None:
            if key in out and out[key] != v:
                raise SpacenasError(f"--{flag.replace('_', '-')} {v} contradicts --supernet {key}={out[key]}")
            out[key] = v
    return out


def reject_supernet_flags(args: argparse.Namespace, space: str) -> None:
    """For spaces without a supernet: --madds-limit / --supernet are errors."""
    bad = [f for f, v in (("--madds-limit", getattr(args, "madds_limit", None)),
                          ("--supernet", getattr(args, "supernet_options", None))) if v]
    if bad:
        from spacenas.sweep import SUPERNET_SPACES

        raise SpacenasError(f"{', '.join(bad)}: only for the supernet spaces ({', '.join(SUPERNET_SPACES)}), "
                            f"not for {space!r}")


def run_supernet_search(args: argparse.Namespace, parse_options) -> int:
    """``spacenas search --space mobilenet ...``: train (or load) the supernet, search, print."""
    from spacenas.sweep import RunSpec, default_budget, run_search

    if args.progressive:
        raise SpacenasError("--progressive: only for the one-shot method drnas")
    if args.resume and not args.run_dir:
        raise SpacenasError("--resume needs --run-dir (the dir of the run to continue)")
    if args.data is not None and args.dataset is not None and args.data != args.dataset:
        raise SpacenasError(f"--data {args.data} and --dataset {args.dataset} disagree: on space {args.space!r} "
                            "both name the data the supernet is trained on; give one")
    data = args.data or args.dataset or "digits"
    opts = parse_options(args.options, [args.method], scoped=False).get(args.method, {})
    budget = args.budget if args.budget is not None else default_budget(args.space)
    spec = RunSpec(args.method, data, args.seed, budget, args.space, args.search_metric or "valid", opts,
                   tuple(args.constraints or ()), args.objectives, args.weights, supernet=supernet_options(args),
                   data_dir=args.data_dir, device="cpu" if args.device is None else args.device)
    ckpt = 25 if args.checkpoint_every is None else args.checkpoint_every
    res = run_search(spec, run_dir=args.run_dir, resume=args.resume, checkpoint_every=ckpt,
                     progress=not args.no_progress)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
        return 0
    print_result(res)
    return 0


def print_result(res) -> None:
    print(f"{res.method} on {res.space}/{res.dataset} (supernet), seed {res.seed}: {res.steps} steps, "
          f"spent {res.spent:g} of {res.budget:g} queries (stopped by {res.stopped})")
    if res.constraints:
        print(f"subject to {', '.join(res.constraints)}")
    if res.arch is None:
        print("found    nothing feasible: no evaluated architecture is within the MAdds limit")
    else:
        m = res.metrics or {}
        feas = "yes" if m.get("feasible", 1.0) > 0.5 else "no"
        print(f"found    {res.arch}")
        print(f"         supernet accuracy: held-out {res.valid:.2f}%  test {res.test:.2f}%")
        madds, params = m.get("madds", float("nan")) / 1e6, m.get("params", float("nan")) / 1e6
        print(f"         MAdds {madds:.4g}M  params {params:.4g}M  feasible {feas}")
    print("optimum  n/a: no table optimum for this space (no gap)")


def sweep_supernet_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``sweep(...)`` keyword arguments from the sweep flags: supernet options, data dir, device for a
    supernet space; ``{}`` otherwise (where any of those flags is an error)."""
    from spacenas.sweep import SUPERNET_SPACES

    if args.space not in SUPERNET_SPACES:
        reject_supernet_flags(args, args.space)
        bad = [f for f, v in (("--data-dir", args.data_dir), ("--epochs", args.epochs), ("--device", args.device))
               if v is not None]
        if bad:
            raise SpacenasError(f"{', '.join(bad)}: only for the supernet spaces ({', '.join(SUPERNET_SPACES)}), "
                                f"not for {args.space!r}")
        return {}
    return {"supernet": supernet_options(args), "data_dir": args.data_dir, "device": "cpu" if args.device is None else args.device}
