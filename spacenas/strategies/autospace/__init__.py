"""AutoSpace (Zhou et al., ICCV 2021): learn a layer-wise search space of open cells with a
differentiable evolutionary algorithm, then search inside it with ProxylessNAS-style binary
gates and an MAdds-regularized loss. See ``docs/autospace.md``.

* :mod:`~spacenas.strategies.autospace.math` -- Eqs. 3-6 and tournament selection (pure);
* :mod:`~spacenas.strategies.autospace.evolution` -- :class:`AutoSpace`, the DEA (Sec. 3.2);
* :mod:`~spacenas.strategies.autospace.proxyless` -- binary-gate supernet and search (Sec. 3.3).
"""
from spacenas.strategies.autospace.evolution import AutoSpace, AutoSpaceConfig, AutoSpaceResult
from spacenas.strategies.autospace.proxyless import (GatedSupernet, ProxylessConfig, ProxylessResult,
                                                     proxyless_search, train_network)

__all__ = ["AutoSpace", "AutoSpaceConfig", "AutoSpaceResult", "GatedSupernet", "ProxylessConfig",
           "ProxylessResult", "proxyless_search", "train_network"]
