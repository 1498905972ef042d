"""AutoSpace's differentiable evolutionary algorithm (DEA, AutoSpace Sec. 3.2).

One population of open cells per layer of an L-layer supernet. Each round:

1. **select** K distinct cells per layer by tournament selection on the fitness scores;
2. **build** the supernet: layer ``l`` has the K selected cells as parallel paths mixed by
   ``p = softmax(alpha)`` (Eq. 3), with ProxylessNAS binary gates (one path per weight step,
   two per fitness step). Cell modules are cached by ``(layer, cell text)``, so a cell keeps
   its weights whenever it is selected again (weight inheritance, Sec. 3.3); stem and head
   persist across rounds;
3. **train** ``steps_per_round`` iterations (the paper's ``f``): a weight step on a train
   batch, then a fitness step on a valid batch with the Eq. 4 gradient times the count
   compensation ``n / n'(d)`` (see :func:`~spacenas.strategies.autospace.math.count_compensation`);
4. **write back** the learned scores with momentum ``eps`` (Eq. 5);
5. **mutate** the winners (the K selected cells, best first, round robin) into ``offspring``
   new cells per layer; an offspring starts with its parent's fitness. During the first half of
   the rounds (and for the initial population) a mutation is redrawn until the Eq. 2 distance
   to the reference DAG is below ``tau`` (after ``max_mutation_tries`` the closest draw is
   kept). The population then drops its least fit old cells back to ``population`` cells.

Eq. 1's hard limit ``MAdds(d_i) < MAdds_max`` per cell (``madds_max``, in millions at the
cell's layer geometry; None: no limit) is kept by construction: the initial population and
every mutation only admit cells under the limit (:func:`~spacenas.strategies.autospace.math.
within_madds`), so every cell of the output space satisfies it. Eq. 6's penalty (``lam``) is a
separate, soft term. The same admission keeps cells without live edges out of layers that
change the shape (where they would zero the network's signal; see :meth:`AutoSpace._admissible`).

The fitness steps use a batch of ``fitness_data``: ``valid`` (default: the held-out split, a
bi-level estimate that the weight steps have not fitted) or ``train`` (the paper, Sec. 3.2.2:
"its classification loss over the provided training dataset"; a fresh training batch, not the
one of the weight step). The ``autospace-*`` presets use ``train``.

``run(..., run_dir=DIR)`` makes DIR a run dir (:mod:`spacenas.runs`, kind ``autospace``): one
log line and a checkpoint (:meth:`AutoSpace.state_dict`) after every round, ``result.json`` and
the learned space (``space.json``) at the end; ``resume=True`` continues from the checkpoint
with an identical result.

Checkpointed state (everything the next round depends on): the populations (cell text,
fitness, ``n'(d)`` of every member), the total iteration count ``n``, the loss curve and the
per-round log; the weights of the stem/head (:class:`LayerwiseNet`) and of every cached cell
module (BN statistics included); the numpy generator's ``bit_generator.state`` and the torch
generator's state; the two batch streams (:class:`BatchStream`). The weight optimizer is rebuilt
every round and the fitness steps are plain SGD, so neither has state at a round boundary.

The output is the top-K cells per layer by fitness (an offspring's inherited score counts;
ties go to evaluated cells) as a :class:`LayerwiseSpace` (decisions =
layers, choices = cells), plus its full :class:`Subspace`, fitness scores and the loss curve.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from tqdm.auto import tqdm

from spacenas.config import StrictModel
from spacenas.data.splits import ImageTensorDataset
from spacenas.errors import SpacenasError
from spacenas.nn.madds import block_cost
from spacenas.nn.open_cell_net import LayerwiseNet, NetPlan, make_block
from spacenas.nn.ops import init_parameters_
from spacenas.numerics import check_finite
from spacenas.spaces.base import Arch
from spacenas.spaces.open_cell import IRB_REFERENCE, LayerwiseSpace, OpenCellSpace
from spacenas.strategies.autospace.checkpoint import BatchStream
from spacenas.strategies.autospace.math import count_compensation, momentum_update, tournament_select, within_madds
from spacenas.strategies.autospace.proxyless import GatedSupernet, alpha_step, gate_grads, weight_step
from spacenas.subspace import Subspace

_HINT = "the learning rate may be too high (lower --set lr or arch_lr)"


SPACE_FILE = "space.json"


class AutoSpaceConfig(StrictModel):
    rounds: int = Field(4, ge=1)
    #: iterations per round (the paper's f: the supernet is re-generated every f iterations)
    steps_per_round: int = Field(20, ge=1)
    population: int = Field(8, ge=2)
    #: paths per layer (K) and size of the output space per layer
    k: int = Field(3, ge=1)
    tournament: int = Field(3, ge=1)
    offspring: int = Field(2, ge=0)
    #: momentum of Eq. 5
    eps: float = Field(0.5, ge=0, le=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.05, gt=0)
    arch_lr: float = Field(0.5, gt=0)
    #: lambda of Eq. 6 during evolution (per million MAdds); 0 = accuracy only
    lam: float = Field(0.0, ge=0)
    #: initial fitness scores ~ N(0, init_scale^2)
    init_scale: float = Field(1e-3, ge=0)
    compensation_cap: float | None = Field(10.0, gt=0)
    #: reference DAG (open-cell text); None disables the regularization
    reference: str | None = IRB_REFERENCE
    tau: float = Field(0.25, gt=0)
    max_mutation_tries: int = Field(100, ge=1)
    n_inner: int = Field(4, ge=2)
    #: Eq. 1: hard upper limit on every cell's MAdds, in millions (None: no limit)
    madds_max: float | None = Field(None, gt=0)
    #: data of the fitness steps: held-out split (default) or the training set (paper)
    fitness_data: Literal["valid", "train"] = "valid"


@dataclass
class Member:
    text: str
    fitness: float
    iters: int = 0  # n'(d): iterations spent as a path of the supernet


@dataclass
class RunState:
    """What a DEA run carries from round to round (besides the module weights)."""
    pops: list[list[Member]]
    tb: BatchStream
    vb: BatchStream
    n_total: int = 0
    losses: list[float] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    next_round: int = 0


@dataclass
class AutoSpaceResult:
    space: LayerwiseSpace
    subspace: Subspace
    fitness: list[list[float]]
    populations: list[list[Member]]
    losses: list[float] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def save(self, path: str | Path) -> None:
        """JSON file that :func:`~spacenas.spaces.open_cell.load_layerwise` reads back."""
        self.space.save(path, {"fitness": self.fitness, "losses": self.losses})


class AutoSpace:
    """The DEA on a network of geometry ``plan``; ``run`` returns an :class:`AutoSpaceResult`."""

    def __init__(self, config: AutoSpaceConfig, plan: NetPlan) -> None:
        self.config, self.plan = config, plan
        self.space = OpenCellSpace(config.n_inner)
        self.ref: Arch | None = self.space.parse(config.reference) if config.reference else None
        if config.k > config.population:
            raise SpacenasError(f"k={config.k} paths per layer need a population of at least k cells, "
                                f"got population={config.population}")
        self.cache: dict[tuple[int, str], nn.Module] = {}
        self.body: LayerwiseNet | None = None
        self._skippable = plan.skippable()

    # ----- population ------------------------------------------------------------------
    def _close(self, arch: Arch) -> bool:
        return self.ref is None or self.space.distance_to(arch, self.ref) < self.config.tau

    def _admissible(self, l: int | None, arch: Arch) -> bool:
        """May ``arch`` join layer ``l``'s population (``None``: no layer given, no check)?

        * Eq. 1: its MAdds at the layer's geometry are under ``madds_max``;
        * it has live edges, unless the layer can be skipped: a cell without live edges outputs
          zeros where the shape changes (stride 2 or new width), so every network through it is
          a constant classifier, and with it as the active path every BatchNorm downstream sees
          a constant input, whose gradient is ``gamma / sqrt(bn_eps)`` (316x per BN layer): the
          gate gradient of the other path (Eq. 4) reached 1.1e6 and one fitness step moved a
          score by 5e4. ProxylessNAS and :func:`~spacenas.spaces.open_cell.irb_space` leave
          ``zero`` out of such layers for the same reason."""
        if l is None:
            return True
        if not self._skippable[l] and not self.space.live_edges(arch):
            return False
        if self.config.madds_max is None:
            return True
        return within_madds(self._madds(l, self.space.format(arch)), self.config.madds_max)

    def mutate(self, parent: Arch, rng: np.random.Generator, use_ref: bool, taken: set[str],
               layer: int | None = None) -> Arch | None:
        """One offspring of ``parent`` (new to ``taken``, admissible at ``layer``: :meth:`_admissible`);
        redrawn until close to the reference when ``use_ref``; ``None`` if no new cell was found."""
        best, best_d = None, float("inf")
        for _ in range(self.config.max_mutation_tries):
            child = self.space.mutate(parent, rng)
            if self.space.format(child) in taken or not self._admissible(layer, child):
                continue
            d = self.space.distance_to(child, self.ref) if use_ref and self.ref is not None else 0.0
            if d < best_d:
                best, best_d = child, d
            if not use_ref or self._close(child):
                return child
        return best

    def initial_population(self, rng: np.random.Generator) -> list[list[Member]]:
        """``population`` distinct random cells per layer (uniform among cells closer than ``tau``
        to the reference, by rejection; mutants of the reference if rejection keeps failing),
        with fitness ~ N(0, init_scale^2)."""
        pops = []
        for l in range(self.plan.n_layers):
            members, taken = [], set()
            tries = 0
            while len(members) < self.config.population:
                tries += 1
                if tries > 10000 * self.config.population:
                    raise SpacenasError(f"AutoSpace: could not find {self.config.population} distinct cells under "
                                        f"madds_max={self.config.madds_max}M at layer {l} (Eq. 1); raise the limit")
                arch = self.space.sample(rng)
                if not self._admissible(l, arch):
                    continue
                if not self._close(arch):
                    if tries < 1000 * self.config.population:
                        continue
                    # the ball around the reference is tiny: walk out of the reference instead
                    arch = self.mutate(self.ref, rng, True, taken, l) or arch
                    if not self._admissible(l, arch):
                        continue
                text = self.space.format(arch)
                if text not in taken:
                    taken.add(text)
                    members.append(Member(text, float(rng.normal(0.0, self.config.init_scale))))
            pops.append(members)
        return pops

    # ----- supernet ----------------------------------------------------------------------
    def _module(self, l: int, text: str, generator: torch.Generator, device: str) -> nn.Module:
        key = (l, text)
        if key not in self.cache:
            c_in, c_out, _, s = self.plan.layer_geometry(l)
            m = make_block(text, c_in, c_out, s)
            init_parameters_(m, generator)
            self.cache[key] = m.to(device)
        return self.cache[key]

    def _madds(self, l: int, text: str) -> float:
        c_in, c_out, size, s = self.plan.layer_geometry(l)
        return block_cost(text, c_in, c_out, size, s).madds / 1e6

    # ----- the loop ----------------------------------------------------------------------
    def run(self, train: ImageTensorDataset, valid: ImageTensorDataset, rng: np.random.Generator,
            generator: torch.Generator, device: str = "cpu", *, run_dir: str | Path | None = None,
            resume: bool = False, on_round: Callable[[dict[str, Any]], None] | None = None,
            progress: bool = False, run_config: dict[str, Any] | None = None) -> AutoSpaceResult:
        """Run the DEA. With ``run_dir`` the state is checkpointed there after every round;
        ``resume=True`` first restores it (into this object, ``rng`` and ``generator``) and runs
        the remaining rounds: the result equals that of an uninterrupted run. ``run_config``:
        more ``config.json`` entries (data, seed). ``on_round(record)`` is called after every
        round (and its checkpoint)."""
        from spacenas.runs import RunDir

        if run_dir is None:
            if resume:
                raise SpacenasError("resuming the DEA needs its run dir")
            return self._run(train, valid, rng, generator, device, None, on_round, progress, None)
        config = {"kind": "autospace", "config": self.config.model_dump(mode="json"),
                  "plan": self.plan.model_dump(mode="json"), **(run_config or {})}
        with RunDir.open(run_dir, config, resume=resume) as rd:
            if rd.result is not None:  # finished: its last checkpoint holds the final state
                from spacenas.runs import CHECKPOINT, load_checkpoint

                state = load_checkpoint(rd.path / CHECKPOINT)["run"]
                return self._run(train, valid, rng, generator, device, None, on_round, progress, state)
            res = self._run(train, valid, rng, generator, device, rd, on_round, progress, rd.state)
            res.save(rd.path / SPACE_FILE)
            rd.finish({"space_file": SPACE_FILE, "layers": res.space.layers, "fitness": res.fitness,
                       "losses": res.losses, **(run_config or {})})
        return res

    def _run(self, train, valid, rng, generator, device, rd, on_round, progress, state) -> AutoSpaceResult:
        cfg = self.config
        if state is not None:
            from spacenas.runs import CHECKPOINT, restoring

            with restoring(rd.path / CHECKPOINT if rd is not None else "checkpoint"):  # one line, not a traceback
                st = self.load_state_dict(state, train, valid, rng, generator, device)
        else:
            st = RunState(self.initial_population(rng), BatchStream(train, cfg.batch_size, generator, device),
                          BatchStream(valid, cfg.batch_size, generator, device))
            self.cache = {}
            self.body = LayerwiseNet(self.plan, generator=generator).to(device)
        bar = tqdm(total=cfg.rounds, initial=st.next_round, desc="autospace rounds", unit="round",
                   disable=not progress, leave=False)
        try:
            for r in range(st.next_round, cfg.rounds):
                self._round(r, st, rng, generator, device)
                st.next_round = r + 1
                if rd is not None:
                    rd.log(st.log[-1])
                    rd.checkpoint(self.state_dict(st, rng, generator))
                if on_round is not None:
                    on_round(st.log[-1])
                bar.set_postfix(loss=f"{st.log[-1]['loss']:.3f}", refresh=False)
                bar.update(1)
        finally:
            bar.close()
        return self._result(st.pops, st.losses, st.log)

    # ----- checkpointing (plain values and tensors; see the module docstring) ------------------
    def state_dict(self, st: RunState, rng: np.random.Generator, generator: torch.Generator) -> dict[str, Any]:
        """The DEA's state at a round boundary, with the run's state and generators."""
        return {"next_round": st.next_round, "n_total": st.n_total, "losses": [float(x) for x in st.losses],
                "log": st.log, "numpy_rng": rng.bit_generator.state, "torch_rng": generator.get_state(),
                "pops": [[[m.text, float(m.fitness), int(m.iters)] for m in pop] for pop in st.pops],
                "body": self.body.state_dict(),
                "cache": [[l, t, m.state_dict()] for (l, t), m in self.cache.items()],
                "streams": [st.tb.state_dict(), st.vb.state_dict()]}

    def load_state_dict(self, state: dict[str, Any], train: ImageTensorDataset, valid: ImageTensorDataset,
                        rng: np.random.Generator, generator: torch.Generator, device: str) -> RunState:
        """Restore :meth:`state_dict` into this object, ``rng`` and ``generator``; the run state."""
        if state["numpy_rng"]["bit_generator"] != rng.bit_generator.state["bit_generator"]:
            raise SpacenasError(f"cannot resume: checkpoint uses {state['numpy_rng']['bit_generator']}, "
                                f"rng is {rng.bit_generator.state['bit_generator']}")
        self.body = LayerwiseNet(self.plan, generator=torch.Generator())  # weights: from the state
        self.body.load_state_dict(state["body"])
        self.body.to(device)
        self.cache = {}
        for l, text, sd in state["cache"]:
            c_in, c_out, _, s = self.plan.layer_geometry(l)
            m = make_block(text, c_in, c_out, s)
            m.load_state_dict(sd)
            self.cache[(int(l), text)] = m.to(device)
        bs = self.config.batch_size
        st = RunState([[Member(t, float(f), int(i)) for t, f, i in pop] for pop in state["pops"]],
                      BatchStream(train, bs, generator, device), BatchStream(valid, bs, generator, device),
                      n_total=int(state["n_total"]), losses=list(state["losses"]), log=list(state["log"]),
                      next_round=int(state["next_round"]))
        st.tb.load_state_dict(state["streams"][0])
        st.vb.load_state_dict(state["streams"][1])
        rng.bit_generator.state = state["numpy_rng"]
        generator.set_state(state["torch_rng"])
        return st

    def _round(self, r: int, st: RunState, rng: np.random.Generator, generator: torch.Generator,
               device: str) -> None:
        cfg, pops = self.config, st.pops
        sel = [tournament_select([m.fitness for m in pop], cfg.k, cfg.tournament, rng) for pop in pops]
        members = [[pops[l][i] for i in idx] for l, idx in enumerate(sel)]
        net = GatedSupernet(self.body, [[self._module(l, m.text, generator, device) for m in ms]
                                        for l, ms in enumerate(members)],
                            [[self._madds(l, m.text) for m in ms] for l, ms in enumerate(members)])
        alphas = [torch.tensor([m.fitness for m in ms], dtype=torch.float32, device=device) for ms in members]
        opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=3e-4)
        for step in range(cfg.steps_per_round):
            x, y = next(st.tb)
            loss, _ = weight_step(net, alphas, x, y, opt, generator)
            check_finite(loss, "training loss", f"round {r} step {step}", _HINT)
            st.losses.append(loss)
            st.n_total += 1
            for ms in members:
                for m in ms:
                    m.iters += 1
            xv, yv = next(st.vb if cfg.fitness_data == "valid" else st.tb)
            if cfg.k < 2:
                continue
            _, ggs = gate_grads(net, alphas, xv, yv, generator, cfg.lam)
            for l, (a, gg) in enumerate(zip(alphas, ggs)):
                comp = torch.tensor([count_compensation(st.n_total, members[l][k].iters, cfg.compensation_cap)
                                     for k in gg.paths])
                alpha_step(a, gg, cfg.arch_lr, comp)
            check_finite(alphas, "fitness scores (architecture parameters)", f"round {r} step {step}", _HINT)
        check_finite(net, "supernet weights", f"end of round {r}", _HINT)
        # Eq. 5: write back
        for ms, a in zip(members, alphas):
            for m, s in zip(ms, a.tolist()):
                m.fitness = float(momentum_update(s, m.fitness, cfg.eps))
        use_ref = r < cfg.rounds / 2
        for l, ms in enumerate(members):
            self._offspring(l, pops, ms, rng, use_ref)
        st.log.append({"round": r, "loss": float(np.mean(st.losses[-cfg.steps_per_round:])),
                       "selected": [[m.text for m in ms] for ms in members]})

    def _offspring(self, l: int, pops: list[list[Member]], winners: list[Member], rng: np.random.Generator,
                   use_ref: bool) -> None:
        pop = pops[l]
        winners = sorted(winners, key=lambda m: -m.fitness)
        taken = {m.text for m in pop}
        children = []
        for o in range(self.config.offspring):
            parent = winners[o % len(winners)]
            child = self.mutate(self.space.parse(parent.text), rng, use_ref, taken, l)
            if child is None:
                continue
            text = self.space.format(child)
            taken.add(text)
            children.append(Member(text, parent.fitness))
        old = sorted(pop, key=lambda m: -m.fitness)
        keep = old[:max(0, self.config.population - len(children))]
        for m in old[len(keep):]:
            self.cache.pop((l, m.text), None)
        pops[l] = keep + children

    def _result(self, pops: list[list[Member]], losses: list[float], log: list[dict[str, Any]]) -> AutoSpaceResult:
        layers, fit = [], []
        for pop in pops:
            ranked = sorted(pop, key=lambda m: (-m.fitness, m.iters == 0))[:self.config.k]
            layers.append([m.text for m in ranked])
            fit.append([m.fitness for m in ranked])
        space = LayerwiseSpace(layers, name="autospace", meta={"plan": self.plan.model_dump()})
        return AutoSpaceResult(space, Subspace.full(space), fit, pops, losses, log)
