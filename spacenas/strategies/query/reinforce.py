"""REINFORCE (Williams 1992) with per-decision categorical logits, as the NAS-Bench-201 baseline.

Policy: one logit vector per decision (for NB201: 6 edges x 5 ops), all zero at the start
(uniform policy), choices a decision does not have (spaces with uneven choice counts) or a
mask ``subspace`` forbids get logit -inf. An architecture is sampled decision by decision from
``softmax(logits[i])`` with the strategy's own ``torch.Generator``; for spaces with
constraints (``SearchSpace.is_valid``) invalid samples are redrawn.

Update after every told architecture (batch size 1), reward ``r = result.score``:

* advantage ``A = r - b`` with ``b`` the exponential moving average of earlier rewards
  (``b`` starts at the first reward, so the first advantage is 0),
* baseline update ``b <- m * b + (1 - m) * r`` with momentum ``m = 0.9``,
* loss ``-A * log pi(arch)`` where ``log pi(arch) = sum_i log softmax(logits[i])[arch_i]``,
  one Adam step (skipped when ``A == 0``, e.g. on the first tell, so that Adam's step count
  only advances on informative updates; also skipped for a told arch the policy cannot sample).

Choices (see docs/query-strategies.md): NAS-Bench-201's code updates the baseline *before*
subtracting it, which gives ``m * (r - b)`` instead of ``r - b``; the factor ``m`` barely
matters under Adam's scale invariance, and subtracting the baseline of *earlier* rewards keeps
the gradient estimate unbiased. The learning rate default 0.01 is the one of the benchmark
authors' NATS-Bench topology-space runs (``--learning_rate 0.01``, EMA momentum 0.9); their
NB201 scripts swept {0.001, 0.01, 0.02, 0.1, 0.2, 0.5}. The final answer is the best
architecture sampled (``QueryStrategy.best``), as in the NB201 baseline.
"""
from __future__ import annotations
from typing import Any

import torch
from pydantic import Field
from torch import nn

from spacenas.config import StrictModel
from spacenas.errors import SpacenasError
from spacenas.evaluators.base import Result
from spacenas.numerics import check_finite
from spacenas.spaces.base import Arch, SearchSpace
from spacenas.strategies.base import QueryStrategy
from spacenas.subspace import Subspace


class ReinforceConfig(StrictModel):
    """Options of REINFORCE (defaults: the NAS-Bench-201 / NATS-Bench baseline)."""

    lr: float = Field(0.01, gt=0, description="Adam learning rate of the policy logits")
    baseline_momentum: float = Field(0.9, ge=0, lt=1, description="momentum m of the EMA reward baseline")
    max_resample: int = Field(1000, ge=1, description="redraws allowed for spaces with constraints")


# ----- pure functions ------------------------------------------------------------------
def ema_update(baseline: float | None, reward: float, momentum: float) -> float:
    """Exponential moving average ``m * b + (1 - m) * r``; the first reward initialises it."""
    if baseline is None:
        return float(reward)
    return momentum * baseline + (1.0 - momentum) * float(reward)


def advantage(reward: float, baseline: float | None) -> float:
    """``r - b`` with ``b`` the baseline of earlier rewards (0 when there is none yet)."""
    return 0.0 if baseline is None else float(reward) - baseline


def arch_log_prob(logits: torch.Tensor, choices: torch.Tensor) -> torch.Tensor:
    """``sum_i log softmax(logits[i])[choices[i]]`` for logits ``[n_decisions, max_choices]``."""
    logp = torch.log_softmax(logits, dim=-1)
    return logp.gather(1, choices.view(-1, 1)).sum()


def reinforce_loss(logits: torch.Tensor, choices: torch.Tensor, adv: float) -> torch.Tensor:
    """Policy-gradient loss ``-A * log pi(arch)``; its gradient w.r.t. logit (i, c) is
    ``-A * (1[c == choices_i] - softmax(logits[i])[c])``."""
    return -adv * arch_log_prob(logits, choices)


# ----- policy ----------------------------------------------------------------------------
class CategoricalPolicy(nn.Module):
    """Independent categorical distribution per decision; ``allowed`` masks choices out."""

    def __init__(self, allowed: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("allowed", allowed.bool())
        self.logits = nn.Parameter(torch.zeros(allowed.shape, dtype=torch.float32))

    def masked_logits(self) -> torch.Tensor:
        return self.logits.masked_fill(~self.allowed, float("-inf"))

    def probs(self) -> torch.Tensor:
        return torch.softmax(self.masked_logits(), dim=-1)

    def sample(self, gen: torch.Generator) -> list[int]:
        with torch.no_grad():
            return torch.multinomial(self.probs(), 1, generator=gen).view(-1).tolist()


class Reinforce(QueryStrategy):
    """REINFORCE with an EMA baseline over per-decision categorical logits."""

    Config = ReinforceConfig

    def __init__(self, space: SearchSpace, seed: int = 0, config=None, subspace: Subspace | None = None) -> None:
        super().__init__(space, seed, config)
        allowed = torch.zeros(space.n_decisions, space.max_choices, dtype=torch.bool)
        for i, n in enumerate(space.n_choices):
            allowed[i, :n] = True
        if subspace is not None:
            if subspace.space.name != space.name:
                raise SpacenasError(
                    f"subspace belongs to space {subspace.space.name!r}, strategy searches {space.name!r}")
            if subspace.center is not None:
                raise SpacenasError("REINFORCE accepts mask subspaces only, not balls (allowed: Subspace without center)")
            allowed &= torch.as_tensor(subspace.mask, dtype=torch.bool)
        self.policy = CategoricalPolicy(allowed)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.lr)
        self.torch_gen = torch.Generator().manual_seed(self.seed)
        self.baseline: float | None = None

    def ask(self) -> Arch:
        for _ in range(self.config.max_resample):
            arch = Arch(self.space.name, tuple(self.policy.sample(self.torch_gen)))
            if self.space.is_valid(arch):
                return arch
        raise SpacenasError(f"REINFORCE could not sample a valid architecture in {self.config.max_resample} tries")

    def tell(self, arch: Arch, result: Result) -> None:
        super().tell(arch, result)
        r = float(result.score)
        adv = advantage(r, self.baseline)
        self.baseline = ema_update(self.baseline, r, self.config.baseline_momentum)
        choices = torch.tensor(arch.choices, dtype=torch.long)
        if adv == 0.0 or not bool(self.policy.allowed[torch.arange(len(choices)), choices].all()):
            return  # nothing to learn (first tell), or an arch the policy cannot sample
        self.optimizer.zero_grad(set_to_none=True)
        reinforce_loss(self.policy.masked_logits(), choices, adv).backward()
        self.optimizer.step()
        check_finite(self.policy, "policy logits", f"query {len(self.history)}", "lower --set lr")

    def extra_state(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "torch_gen": self.torch_gen.get_state(), "baseline": self.baseline}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.torch_gen.set_state(state["torch_gen"])
        self.baseline = state["baseline"]
