"""``spacenas train``: the command-line side of :mod:`spacenas.train` (wired by spacenas.cli).

``add_train_arguments(parser)`` declares the flags; ``run_train(args) -> int`` runs them. Bad
input raises :class:`SpacenasError` (the CLI's top level prints it on one line).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spacenas.errors import SpacenasError


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of ``spacenas train`` (added to the subparser ``p``)."""
    p.add_argument("--arch", required=True,
                   help="architecture text (NB201 string or DARTS genotype), a file that holds it, or a "
                        "finished search run dir (its arch.txt)")
    p.add_argument("--space", default=None, help="space of the architecture: nb201, darts or mobilenet "
                   "(default with a run dir as --arch: the run's space)")
    p.add_argument("--activation", default=None, metavar="NAME",
                   help="retrain with this one activation on every edge that takes one, instead of the "
                        "searched ones (nb201-act/darts-act; with nb201/darts the arch is lifted): relu, "
                        "relu6, leaky_relu, prelu, rrelu, elu, celu, selu, swish")
    p.add_argument("--data", default="cifar10",
                   help="data set: digits, fashion-mnist, cifar10, cifar100, imagenet16-120 (default: cifar10)")
    p.add_argument("--data-dir", default=None, help="directory of the data set files")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the paper's, 600/200)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    p.add_argument("--set", dest="train_options", action="append", metavar="KEY=VALUE",
                   help="override a training setting, e.g. --set lr=0.05 --set cutout=0 (repeatable; "
                        "see docs/train-export.md)")
    p.add_argument("--run-dir", default=None, help="write the checkpoint (every epoch), model and result here")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its checkpoint")
    p.add_argument("--export", default=None, metavar="FORMATS",
                   help="after training, export to torchscript and/or onnx (comma list) into --run-dir "
                        "or --export-dir")
    p.add_argument("--export-dir", default=None, help="where to write exports (default: --run-dir)")
    p.add_argument("--init-from-supernet", default=None, metavar="FILE",
                   help="mobilenet: start from the arch's weights in a trained supernet (a search run's "
                        "supernet.pt) instead of a random init")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``key=value`` strings -> dict; values parsed as JSON when they parse, else kept as text."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise SpacenasError(f"bad --set {pair!r}: expected key=value")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out


def run_train(args: argparse.Namespace) -> int:
    """Run ``spacenas train`` with parsed ``args``; print the result; return the exit code."""
    import torch

    from spacenas import registry
    from spacenas.data import load_dataset
    from spacenas.train.config import check_space, train_config
    from spacenas.train.export import FORMATS, export
    from spacenas.train.loop import train

    if args.space is None:  # --arch RUN_DIR: the space it searched (spacenas.runs)
        from spacenas.runs import arch_source_space
        args.space = arch_source_space(args.arch)
        if args.space is None:
            raise SpacenasError("--space is required unless --arch is a search run dir")
    check_space(args.space)
    space = registry.space(args.space)
    arch = args.arch
    if getattr(args, "activation", None) is not None:  # A-DARTS: one fixed activation everywhere
        from spacenas.train.loop import fix_activation
        space, arch = fix_activation(space, arch, args.activation)
    overrides = parse_overrides(args.train_options)
    for name in ("epochs", "seed"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if getattr(args, "init_from_supernet", None) is not None:
        overrides["init_from_supernet"] = str(Path(args.init_from_supernet).expanduser().resolve())
    config = train_config(args.space, overrides)
    formats = [f.strip() for f in (args.export or "").split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise SpacenasError(f"unknown export format {bad[0]!r} (allowed: {', '.join(FORMATS)})")
    export_dir = args.export_dir or args.run_dir
    if formats and export_dir is None:
        raise SpacenasError("--export needs --run-dir or --export-dir (where to write the files)")
    data = load_dataset(args.data, args.data_dir)
    result = train(arch, space, data, config, run_dir=args.run_dir, resume=args.resume,
                   device=torch.device(args.device), progress=not args.no_progress,
                   generator=torch.Generator().manual_seed(config.seed))
    files: list[Path] = []
    if formats:
        example = torch.zeros(1, data.in_channels, data.image_size, data.image_size)
        norm = {"mean": data.train.mean.flatten().tolist(), "std": data.train.std.flatten().tolist(),
                "pixel_scale": data.train.scale, "arch": result.arch, "space": result.space}
        files = export(result.model, export_dir, example, formats, normalization=norm)
    if args.json:
        print(json.dumps({**result.to_dict(), "history": result.history[-1:], "exports": [str(f) for f in files]}))
    else:
        print(f"space {result.space}  data {result.dataset}  epochs {result.epochs}")
        print(f"test accuracy {result.test_acc:.2f}%  (loss {result.test_loss:.4f})")
        print(f"params {result.params / 1e6:.3f}M  MAdds {result.madds / 1e6:.1f}M  train time {result.seconds:.0f}s")
        for f in files:
            print(f"wrote {f}", file=sys.stderr)
    return 0
