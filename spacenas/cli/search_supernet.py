"""Flags of query-based search on supernet spaces (``spacenas search|sweep --space mobilenet``).

``--data`` (or ``--dataset``) names the image data set the supernet is trained on (default:
digits), ``--data-dir`` where its files are, ``--epochs`` the supernet training epochs,
``--madds-limit`` the MAdds constraint (``1.5M`` or a percentile ``50%``), ``--supernet KEY=VALUE``
any other :class:`~spacenas.evaluators.supernet_run.SupernetRunConfig` option (``train_limit``,
``valid_limit``, ``shape``, ``calib_size``, ``lr``, ``batch_size``, ...), ``--device`` the torch device.
"""
from __future__ import annotations

import argparse
from typing import Any

from spacenas import registry
from spacenas.cli.options import key_values, positive_int
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
        g.add_argument("--epochs", type=positive_int, default=None, help="supernet training epochs (default: 10)")
        g.add_argument("--device", default=None, help="torch device (default: cpu)")


def supernet_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--supernet`` pairs plus ``--epochs`` / ``--madds-limit`` as a dict (checked later)."""
    out = key_values(args.supernet_options, "--supernet")
    for flag, key in (("epochs", "epochs"), ("madds_limit", "madds_limit")):
        v = getattr(args, flag)
        if v is not None:
            if key in out and out[key] != v:
                raise SpacenasError(f"--{flag.replace('_', '-')} {v} contradicts --supernet {key}={out[key]}")
            out[key] = v
    return out


def reject_supernet_flags(args: argparse.Namespace, space: str) -> None:
    """For spaces without a supernet: --madds-limit / --supernet are errors."""
    bad = [f for f, v in (("--madds-limit", args.madds_limit), ("--supernet", args.supernet_options)) if v]
    if bad:
        raise SpacenasError(f"{', '.join(bad)}: only for the supernet spaces ({', '.join(registry.SUPERNET_SPACES)}), "
                            f"not for {space!r}")


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
    if args.space not in registry.SUPERNET_SPACES:
        reject_supernet_flags(args, args.space)
        bad = [f for f, v in (("--data-dir", args.data_dir), ("--epochs", args.epochs), ("--device", args.device))
               if v is not None]
        if bad:
            raise SpacenasError(f"{', '.join(bad)}: only for the supernet spaces "
                                f"({', '.join(registry.SUPERNET_SPACES)}), not for {args.space!r}")
        return {}
    return {"supernet": supernet_options(args), "data_dir": args.data_dir, "device": args.device or "cpu"}
