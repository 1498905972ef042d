"""DSM-NAS vs random search vs regularized evolution on the MobileNet-like supernet.

    OMP_NUM_THREADS=1 python benchmarks/mobilenet_dsm.py                       # defaults below
    OMP_NUM_THREADS=1 python benchmarks/mobilenet_dsm.py --epochs 30 --seeds 5 --budget 100
    OMP_NUM_THREADS=1 python benchmarks/mobilenet_dsm.py --predictor 300 --budget 500

    OMP_NUM_THREADS=1 python benchmarks/mobilenet_dsm.py --dataset fashion-mnist --train-limit 12000 \
        --valid-limit 1000 --shape '{"stem_stride": 2}'

Protocol (DSM-NAS Sec. IV-C at toy scale): train one MobileNet-like supernet on 80% of the
training set (default: the embedded digits) (single-path, random sub-network per step); score archs by
inherited weights on the held-out 20% (or, with ``--predictor N``, by a ridge accuracy
predictor fitted on N sub-networks' supernet accuracies); MAdds limit = the ``--madds-q``
quantile of the MAdds of uniformly sampled archs; every method gets the same number of
distinct queries per seed. Reported per method: the returned arch's search score (held-out
accuracy, or predicted accuracy), its supernet accuracy on the digits *test* set, its MAdds,
and whether it is feasible (mean +- std over seeds). Methods not in the registry are skipped.
DSM-NAS uses the paper's MobileNet settings (K = 10, M = 3, Adam lr 3e-4, entropy 1e-3)
unless ``--dsm-config`` (JSON) overrides them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

from spacenas import registry
from spacenas.data import load_dataset
from spacenas.evaluators.base import Evaluator, Result
from spacenas.evaluators.predictor import fit_predictor, sample_distinct
from spacenas.evaluators.supernet import SupernetEvaluator, madds_quantile, make_supernet_evaluator

DSM_PAPER = {"n_subspaces": 10, "radius": 3, "lr": 3e-4, "entropy_weight": 1e-3}


class Memo(Evaluator):
    """Per-run view of a shared evaluator: counts this run's distinct queries, shares results."""

    def __init__(self, inner: SupernetEvaluator, shared: dict) -> None:
        self.inner, self.shared, self.space, self._seen = inner, shared, inner.space, set()

    def evaluate(self, arch) -> Result:
        if arch.choices not in self.shared:
            self.shared[arch.choices] = self.inner.evaluate(arch)
        r = self.shared[arch.choices]
        new = arch.choices not in self._seen
        self._seen.add(arch.choices)
        return Result(r.score, dict(r.metrics), 1.0 if new else 0.0)

    @property
    def spent(self) -> float:
        return float(len(self._seen))


def fmt(xs: list[float], digits: int = 2) -> str:
    sd = statistics.pstdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.{digits}f} +- {sd:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="digits", help="digits (embedded) or fashion-mnist, ...")
    p.add_argument("--epochs", type=int, default=10, help="supernet training epochs")
    p.add_argument("--train-limit", type=int, default=None, help="train the supernet on this many images")
    p.add_argument("--valid-limit", type=int, default=None, help="score on this many held-out images")
    p.add_argument("--shape", default="{}", help="JSON MobileNetShape overrides, e.g. '{\"stem_stride\": 2}'")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--budget", type=int, default=100, help="distinct queries per run")
    p.add_argument("--methods", default="random,evolution,dsm")
    p.add_argument("--madds-q", type=float, default=0.5, help="MAdds limit = this quantile of random archs")
    p.add_argument("--predictor", type=int, default=0, help="fit a predictor on N archs and search with it")
    p.add_argument("--dsm-config", default="{}", help="JSON overriding DSM-NAS options")
    p.add_argument("--device", default="cpu")
    a = p.parse_args(argv)

    data = load_dataset(a.dataset)
    t0 = time.time()
    ev, losses = make_supernet_evaluator(data, seed=0, epochs=a.epochs, device=a.device, train_limit=a.train_limit,
                                         valid_limit=a.valid_limit, shape=json.loads(a.shape))
    ev.test_set = None  # test accuracy only for the returned archs
    print(f"{a.dataset}: supernet trained on {len(ev.calib_set)} images, held-out {len(ev.valid_set)}, "
          f"test {len(data.test)}")
    print(f"supernet: {a.epochs} epochs in {time.time() - t0:.0f}s, loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    space = ev.space
    limit = madds_quantile(ev, a.madds_q, 2000, np.random.default_rng(123))
    ev.config.madds_limit = limit
    print(f"MAdds limit: {limit / 1e6:.3f}M (quantile {a.madds_q} of 2000 random archs)")
    for t in ("1100" * 5, "9999" * 5):
        arch = space.parse(t)
        print(f"  {t}: held-out acc {ev.accuracy(arch):.2f}%, MAdds {ev.cost_of(arch).madds / 1e6:.3f}M")

    if a.predictor:
        from scipy.stats import kendalltau
        t0 = time.time()
        pred, _, _ = fit_predictor(space, ev.accuracy, a.predictor, np.random.default_rng(7))
        held = sample_distinct(space, 100, np.random.default_rng(8))
        tau = kendalltau([ev.accuracy(x) for x in held], pred.predict_many(held)).statistic
        print(f"predictor: ridge on {a.predictor} archs ({time.time() - t0:.0f}s), Kendall tau on 100 held-out archs "
              f"{tau:.3f}")
        ev.predictor = pred

    shared: dict = {}
    print(f"\n{a.seeds} seeds x {a.budget} distinct queries; score = "
          f"{'predicted' if a.predictor else 'supernet held-out'} accuracy (%)")
    print("| method | search score | test acc (supernet) | MAdds (M) | feasible | s/run |")
    print("| --- | --- | --- | --- | --- | --- |")
    for method in a.methods.split(","):
        if method not in registry.QUERY_STRATEGIES:
            print(f"| {method} | not registered: skipped | | | | |")
            continue
        try:
            cls = registry.query_strategy(method)
        except ImportError as e:
            print(f"| {method} | not importable ({e}): skipped | | | | |")
            continue
        cfg = {**DSM_PAPER, **json.loads(a.dsm_config)} if method == "dsm" else None
        scores, tests, madds, feas, times = [], [], [], [], []
        for seed in range(a.seeds):
            t0 = time.time()
            run_ev = Memo(ev, shared)
            s = cls(space, seed=seed, config=cfg)
            while run_ev.spent < a.budget:
                arch = s.ask()
                s.tell(arch, run_ev.evaluate(arch))
            best, r = s.best()
            times.append(time.time() - t0)
            scores.append(r.score)
            tests.append(ev.accuracy(best, data.test))
            madds.append(r.metrics["madds"] / 1e6)
            feas.append(r.metrics["feasible"])
        print(f"| {method} | {fmt(scores)} | {fmt(tests)} | {fmt(madds, 3)} | {fmt(feas)} | {fmt(times, 1)} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
