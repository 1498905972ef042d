"""``spacenas train``: flags -> :class:`~spacenas.train.job.TrainJob` ->
:func:`~spacenas.train.job.train_and_export`; prints the result."""
from __future__ import annotations

import argparse
import json
import logging

from spacenas.cli.options import check_resume, key_values, nonneg_int, positive_int

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags of ``spacenas train`` (added to the subparser ``p``)."""
    p.add_argument("--arch", required=True,
                   help="architecture text (NB201 string or DARTS genotype), a file that holds it, or a "
                        "finished search run dir (its arch.txt)")
    p.add_argument("--space", default=None, help="space of the architecture: nb201, darts or mobilenet "
                   "(default: a run dir's space, or the one space whose format the text fits)")
    p.add_argument("--activation", default=None, metavar="NAME",
                   help="retrain with this one activation on every edge that takes one, instead of the "
                        "searched ones (nb201-act/darts-act; with nb201/darts the arch is lifted): relu, "
                        "relu6, leaky_relu, prelu, rrelu, elu, celu, selu, swish")
    p.add_argument("--data", default=None,
                   help="data set: digits, fashion-mnist, cifar10, cifar100, imagenet16-120, or your own: folder:PATH "
                        "(a sub-folder of images per class), npz:PATH (arrays x, y) (default: the data of a run dir "
                        "given as --arch, else cifar10)")
    p.add_argument("--data-dir", default=None, help="directory of the data set files (default with a run dir as "
                   "--arch and no --data: the run's)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--epochs", type=positive_int, default=None, help="training epochs (default: the paper's, 600/200)")
    p.add_argument("--seed", type=nonneg_int, default=None, help="random seed (default: 0)")
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
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also log per-epoch scalars to TensorBoard in DIR (needs the tensorboard package)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from spacenas.config import build_config
    from spacenas.train.job import TrainJob, train_and_export

    check_resume(args.resume, args.run_dir)
    overrides = key_values(args.train_options)
    for name in ("epochs", "seed", "init_from_supernet"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    job = build_config(TrainJob, {
        "arch": args.arch, "space": args.space, "activation": args.activation, "data": args.data,
        "data_dir": args.data_dir, "device": args.device, "overrides": overrides, "run_dir": args.run_dir,
        "resume": args.resume, "export": [f.strip() for f in (args.export or "").split(",") if f.strip()],
        "export_dir": args.export_dir, "progress": not args.no_progress, "tensorboard": args.tensorboard},
        where="train")
    result, files = train_and_export(job)
    if args.json:
        print(json.dumps({**result.to_dict(), "history": result.history[-1:], "exports": [str(f) for f in files]}))
    else:
        print(f"space {result.space}  data {result.dataset}  epochs {result.epochs}")
        print(f"test accuracy {result.test_acc:.2f}%  (loss {result.test_loss:.4f}); "
              f"train accuracy {result.train_acc:.2f}% (last epoch)")
        print(f"params {result.params / 1e6:.3f}M  MAdds {result.madds / 1e6:.1f}M  train time {result.seconds:.0f}s")
        for f in files:
            log.info(f"wrote {f}")
    return 0
