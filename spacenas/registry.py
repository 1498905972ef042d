"""Names -> classes, so the CLI, sweeps and configs stay thin.

Entries are ``"module:attribute"`` strings imported on first use: adding a component is one
line here, and importing spacenas does not import every strategy.

Plugins (a user's own spaces, ask/tell strategies and evaluators) add entries through the public
registration API: :func:`register_space`, :func:`register_method`, :func:`register_evaluator`
(their entries are the objects themselves). :mod:`spacenas.plugins` loads plugins from entry points
(group ``spacenas.plugins``) and ``--plugin module:attr``; see ``docs/extending.md``.
"""
from __future__ import annotations

import importlib
from typing import Any

from spacenas.errors import SpacenasError, unknown

def _described(rows: dict[str, tuple[Any, str]], kind: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    """``{name: (entry, description)}`` -> (``{name: entry}``, ``{name: description}``), so that each
    name, what it loads and its one line in ``spacenas list`` are stated once, side by side;
    ``kind`` (e.g. ``query-based``) is added to every description as `` (kind)``."""
    return ({n: e for n, (e, _) in rows.items()},
            {n: d + (f" ({kind})" if kind else "") for n, (_, d) in rows.items()})


SPACES, SPACE_DESCRIPTIONS = _described({
    "nb201": ("spacenas.spaces.nb201:NB201Space",
              "NAS-Bench-201 cell: 6 edges x 5 ops, with the benchmark table (cifar10, cifar100, imagenet16-120)"),
    "darts": ("spacenas.spaces.darts:DARTSSpace",
              "DARTS cell space: a normal and a reduction cell, 4 nodes each with two (input, op) pairs"),
    "nb201-act": ("spacenas.spaces.factorized:NB201ActSpace", "NB201 cell with a searched activation per edge (A-DARTS)"),
    "darts-act": ("spacenas.spaces.factorized:DARTSActSpace",
                  "DARTS cells with a searched activation per edge (A-DARTS)"),
    "open-cell": ("spacenas.spaces.open_cell:OpenCellSpace",
                  "AutoSpace open cell: a DAG of inner nodes with a width ratio and an aggregation"),
    "mobilenet": ("spacenas.spaces.mobilenet:MobileNetSpace",
                  "MobileNet-like space of DSM-NAS (MBConv kernel/expansion/depth), searched via a trained supernet"),
})

#: ask/tell strategies (query-based search)
QUERY_STRATEGIES, _QUERY_DESCRIPTIONS = _described({
    "random": ("spacenas.strategies.query.random:RandomSearch",
               "random search: uniform samples, no repeats while unseen archs remain"),
    "evolution": ("spacenas.strategies.query.evolution:RegularizedEvolution",
                  "regularized (aging) evolution, Real et al. 2019"),
    "reinforce": ("spacenas.strategies.query.reinforce:Reinforce", "REINFORCE with per-decision categorical logits"),
    "local": ("spacenas.strategies.query.local:LocalSearch",
              "local search: best-improvement hill climbing with random restarts"),
    "dsm": ("spacenas.strategies.query.dsm:DSMNAS",
            "DSM-NAS: a GNN+LSTM controller picks among subspaces (balls) around good archs"),
    "dsm-random": ("spacenas.strategies.query.dsm_random:DSMRandomSearch",
                   "random search inside DSM-NAS's subspaces (balls), no controller: the Fig. 7 ablation"),
    "mo-evolution": ("spacenas.strategies.query.mo_evolution:MOEvolution",
                     "multi-objective aging evolution with NSGA-II-style selection"),
}, "query-based")

#: one-shot (gradient) strategies
ONESHOT_STRATEGIES, _ONESHOT_DESCRIPTIONS = _described({
    "darts": ("spacenas.strategies.oneshot.darts:DARTS", "DARTS: softmax mixing weights, first- or second-order"),
    "gdas": ("spacenas.strategies.oneshot.gdas:GDAS",
             "GDAS: one op per edge by hard Gumbel-softmax, straight-through gradients"),
    "drnas": ("spacenas.strategies.oneshot.drnas:DrNAS",
              "DrNAS: Dirichlet architecture distributions, optional progressive pruning and widening"),
    "ddsas": ("spacenas.strategies.oneshot.ddsas:DDSAS", "DDSAS: UCB subspace sampling + differentiable search inside it"),
    "adarts": ("spacenas.strategies.oneshot.adarts:ADARTS",
               "A-DARTS: factorized op x activation architecture parameters"),
}, "one-shot")

#: one line of description per method of ``spacenas search`` (``spacenas list methods``)
METHOD_DESCRIPTIONS: dict[str, str] = {**_QUERY_DESCRIPTIONS, **_ONESHOT_DESCRIPTIONS}


#: supernet class of each space that one-shot methods search (``spacenas search --method darts``)
SUPERNETS: dict[str, str] = {
    "nb201": "spacenas.nn.supernets:NB201Supernet",
    "darts": "spacenas.nn.supernets:DARTSSupernet",
}

#: spaces searched by query-based methods through a supernet trained on image data
#: (``RunSpec.dataset`` names the data set): name -> evaluator class
SUPERNET_SPACES: dict[str, str] = {
    "mobilenet": "spacenas.evaluators.supernet_run:SupernetRunEvaluator",
}

#: spaces with a tabular benchmark: name -> factory ``(dataset, search_metric, constraints, objectives)``
#: of the query evaluator on that table (the one-shot loop also reads the derived arch's entry there)
TABLES: dict[str, str] = {
    "nb201": "spacenas.evaluators.table:nb201_evaluator",
}

#: spaces with a benchmark table of trained archs: name -> lookup ``(arch, dataset) -> {"valid", "test"} | None``
BENCHMARKS: dict[str, str] = {
    "nb201": "spacenas.evaluators.table:nb201_entry",
}

#: default budget per space, in the evaluator's unit (NB201: unique queries); see docs/protocol.md
DEFAULT_BUDGETS: dict[str, int] = {"nb201": 100, "mobilenet": 100}

#: methods of ``spacenas autospace-search`` (search in a layer-wise space)
AUTOSPACE_METHODS, AUTOSPACE_METHOD_DESCRIPTIONS = _described({
    "proxyless": ("spacenas.strategies.autospace.build:proxyless_blocks",
                  "ProxylessNAS binary gates with an MAdds penalty (Eq. 6) in a layer-wise space"),
    "random": ("spacenas.strategies.autospace.build:random_layerwise_search",
               "random archs of a layer-wise space, each trained briefly, best by validation"),
}, "autospace-search")

#: preferred row order of methods in reports; other names follow alphabetically
METHOD_ORDER: tuple[str, ...] = ("random", "reinforce", "evolution", "local", "dsm", "dsm-random", "mo-evolution")

#: data sets: image data (one-shot search, supernets, retraining) and benchmark-table data sets
DATASET_DESCRIPTIONS: dict[str, str] = {
    "digits": "8x8 handwritten digits, 10 classes (embedded via scikit-learn; no files needed)",
    "fashion-mnist": "Fashion-MNIST 28x28 grey images, 10 classes (files under --data-dir)",
    "cifar10": "CIFAR-10 32x32 images, 10 classes (files under --data-dir); an NB201 table data set",
    "cifar100": "CIFAR-100 32x32 images, 100 classes (files under --data-dir); an NB201 table data set",
    "imagenet16-120": "ImageNet 16x16, 120 classes (files under --data-dir); an NB201 table data set",
    "ninapro": "NAS-Bench-360 NinaPro task: NB201 archs' accuracy table (query-based search only)",
    "darcy": "NAS-Bench-360 Darcy flow task: NB201 archs' score table (query-based search only)",
}

#: torch device kinds ``--device`` takes
DEVICE_DESCRIPTIONS: dict[str, str] = {
    "cpu": "the CPU (default)",
    "cuda": "the current CUDA GPU; cuda:N names GPU N",
    "mps": "Apple-silicon GPU (Metal)",
}


def _load(target: Any) -> Any:
    if not isinstance(target, str):  # registered by a plugin: the object itself
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get(table: dict[str, str], name: str, kind: str) -> Any:
    """Resolve ``name`` in ``table``; unknown names raise a one-line :class:`SpacenasError`."""
    if name not in table:
        raise unknown(kind, name, sorted(table))
    return _load(table[name])


def space(name: str):
    """Instantiate a search space by name."""
    return get(SPACES, name, "space")()


def query_strategy(name: str):
    return get(QUERY_STRATEGIES, name, "method")


def oneshot_strategy(name: str):
    return get(ONESHOT_STRATEGIES, name, "method")


def methods() -> list[str]:
    return sorted({*QUERY_STRATEGIES, *ONESHOT_STRATEGIES})


def check_method(name: str) -> None:
    """A search method name (query-based or one-shot); else a one-line error listing them all."""
    get({**QUERY_STRATEGIES, **ONESHOT_STRATEGIES}, name, "method")


def load(target: str) -> Any:
    """Import a registry entry ``"module:attribute"``."""
    return _load(target)


def has_table(space: str) -> bool:
    """Whether ``space`` has a tabular benchmark (query evaluator and benchmark lookups)."""
    return space in TABLES


def benchmark_entry(space: str, dataset: str | None, arch) -> dict[str, float] | None:
    """``{"valid", "test"}`` accuracy of ``arch`` in the benchmark table of ``space`` on ``dataset``;
    None where ``space`` has no table or the table has no such data set."""
    if space not in BENCHMARKS or dataset is None:
        return None
    return _load(BENCHMARKS[space])(arch, dataset)


def table_evaluator(space: str, dataset: str, search_metric: str = "valid",
                    constraints: tuple[str, ...] | list[str] = (), objectives: str | None = None):
    """The query evaluator on the benchmark table of ``space``; a space without one is an error."""
    get(SPACES, space, "space")  # unknown space -> SpacenasError
    if space in SUPERNET_SPACES:
        raise SpacenasError(f"space {space!r} is searched through a trained supernet, not a table: "
                            "use build_runner / run_search with a RunSpec")
    if space not in TABLES:
        raise SpacenasError(f"space {space!r} cannot be searched by query-based methods (allowed: "
                            f"{', '.join([*TABLES, *SUPERNET_SPACES])}){_searchable_hint(space)}")
    return _load(TABLES[space])(dataset, search_metric, constraints, objectives)


def _searchable_hint(space: str) -> str:
    """How ``space`` (without a query evaluator) can be searched after all."""
    oneshot = f"; one-shot methods search it ({', '.join(ONESHOT_STRATEGIES)})" if space in SUPERNETS else ""
    return (f"{oneshot}; to search it with query-based methods, register its evaluator: "
            f"api.register_evaluator({space!r}, factory) in a plugin (see docs/extending.md)")


def default_budget(space: str) -> int:
    if space not in DEFAULT_BUDGETS:
        raise SpacenasError(f"no default budget for space {space!r}; pass --budget (defaults exist for: "
                            f"{', '.join(DEFAULT_BUDGETS)})")
    return DEFAULT_BUDGETS[space]


# ----- registration API (plugins) ---------------------------------------------------------------
#: names in the tables before any plugin registered (a plugin may not replace them)
BUILTIN_SPACES = frozenset(SPACES)
BUILTIN_METHODS = frozenset({*QUERY_STRATEGIES, *ONESHOT_STRATEGIES, *AUTOSPACE_METHODS})


def _check_name(name: Any, kind: str) -> None:
    if not isinstance(name, str) or not name or any(c.isspace() or c in ",=:" for c in name):
        raise SpacenasError(f"bad {kind} name {name!r}: a non-empty name without spaces, ',', '=' or ':'")


def _add(table: dict[str, Any], name: str, obj: Any, kind: str, builtin: frozenset[str],
         check: Any = None) -> None:
    """``table[name] = obj``; a built-in name or another object under the same name is an error
    (registering the same object again is a no-op, so loading a plugin twice is harmless);
    ``check(obj)`` returns what is wrong with ``obj`` (or None) for this table."""
    _check_name(name, kind)
    if name in builtin:
        raise SpacenasError(f"cannot register {kind} {name!r}: that name is built in "
                            f"(built-in {kind}s: {', '.join(sorted(builtin))}); choose another name")
    if name in table and table[name] is not obj:
        raise SpacenasError(f"cannot register {kind} {name!r}: already registered by a plugin "
                            f"({table[name]!r})")
    if not callable(obj):
        raise SpacenasError(f"cannot register {kind} {name!r}: {obj!r} is not a class or factory")
    wrong = check(obj) if check is not None else None
    if wrong:
        raise SpacenasError(f"cannot register {kind} {name!r}: {wrong}")
    table[name] = obj


def _not_a_query_strategy(cls: Any) -> str | None:
    """What keeps ``cls`` from being an ask/tell method (None: it is one)."""
    from spacenas.strategies.base import QueryStrategy

    if isinstance(cls, type) and issubclass(cls, QueryStrategy):
        return None
    what = f"class {cls.__name__}" if isinstance(cls, type) else repr(cls)
    return (f"{what} is not a subclass of spacenas.strategies.base.QueryStrategy (a method is such a class "
            "with ask() returning an Arch; see docs/extending.md)")


def register_space(name: str, cls_or_factory: Any, description: str = "") -> None:
    """Register a search space: ``cls_or_factory()`` returns a :class:`~spacenas.spaces.base.SearchSpace`
    whose ``name`` is ``name``."""
    declared = getattr(cls_or_factory, "name", name) if isinstance(cls_or_factory, type) else name
    if declared != name and name not in BUILTIN_SPACES:  # (a built-in name: _add says so)
        raise SpacenasError(f"cannot register space {name!r}: {cls_or_factory.__name__}.name is {declared!r}; "
                            "they must agree (archs carry the space name)")
    _add(SPACES, name, cls_or_factory, "space", BUILTIN_SPACES)
    SPACE_DESCRIPTIONS[name] = description


def register_method(name: str, cls: Any, description: str = "") -> None:
    """Register an ask/tell search method: a :class:`~spacenas.strategies.base.QueryStrategy`
    subclass, built as ``cls(space, seed=..., config=options)``."""
    _add(QUERY_STRATEGIES, name, cls, "method", BUILTIN_METHODS, check=_not_a_query_strategy)
    METHOD_DESCRIPTIONS[name] = description


def register_evaluator(space: str, factory: Any, description: str = "", default_budget: int | None = None) -> None:
    """Register the query evaluator of ``space`` (a built-in or registered space):
    ``factory(dataset, search_metric)`` returns an :class:`~spacenas.evaluators.base.Evaluator`
    (``search_metric`` is ``"valid"`` unless the user asks for another). ``default_budget`` is used
    when a search gives no ``--budget``. Hardware constraints and objectives stay nb201-only."""
    _check_name(space, "space")
    if space not in SPACES:
        raise unknown("space", space, sorted(SPACES))
    if not callable(factory):
        raise SpacenasError(f"cannot register the evaluator of {space!r}: {factory!r} is not callable")

    def make(dataset: str, search_metric: str = "valid", constraints=(), objectives=None):
        if constraints or objectives:
            raise SpacenasError(f"constraints and objectives are for the nb201 table, not for space {space!r}")
        return factory(dataset, search_metric)

    make.factory = factory  # type: ignore[attr-defined]  (the same factory again: a no-op)
    old = TABLES.get(space)
    if old is not None and getattr(old, "factory", None) is factory:
        return
    _add(TABLES, space, make, "evaluator of space", frozenset(k for k, v in TABLES.items() if isinstance(v, str)))
    EVALUATOR_DESCRIPTIONS[space] = description
    if default_budget is not None:
        if isinstance(default_budget, bool) or not isinstance(default_budget, int) or default_budget <= 0:
            raise SpacenasError(f"bad default_budget {default_budget!r} for space {space!r}: a positive integer")
        DEFAULT_BUDGETS[space] = default_budget


#: one line per registered evaluator (``spacenas list spaces`` shows the space's own description)
EVALUATOR_DESCRIPTIONS: dict[str, str] = {}
