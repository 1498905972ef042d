"""Search spaces. Each space module defines one :class:`~spacenas.spaces.base.SearchSpace`."""
from spacenas.spaces.base import Arch, Decision, SearchSpace
from spacenas.spaces.nb201 import NB201Space

__all__ = ["Arch", "Decision", "SearchSpace", "NB201Space"]
