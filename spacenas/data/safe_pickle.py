"""Reading the CIFAR / ImageNet16 batch pickles without letting them run code.

A pickle can name any importable callable and call it while loading; a crafted "data set" would
run code through ``search`` and ``train``. :func:`read_batch_pickle` uses an unpickler whose
``find_class`` resolves only what those files contain: builtin containers, strings, bytes and
numbers need no lookup at all, and numpy arrays, scalars and dtypes need the few numpy
reconstruction functions listed in :data:`ALLOWED` (under their numpy 1 and numpy 2 module
names; python-2 era files spell them ``numpy.core.multiarray``). Anything else is refused with
one line naming the file, before anything is called.
"""
from __future__ import annotations

import _codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

from spacenas.errors import SpacenasError

#: (module, name) -> object: everything a CIFAR / ImageNet16 batch pickle may name
ALLOWED: dict[tuple[str, str], Any] = {}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED[(_mod, "_reconstruct")] = _multiarray._reconstruct
    ALLOWED[(_mod, "scalar")] = _multiarray.scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    ALLOWED[(_mod, "_frombuffer")] = _numeric._frombuffer
ALLOWED[("numpy", "ndarray")] = np.ndarray
ALLOWED[("numpy", "dtype")] = np.dtype
ALLOWED[("_codecs", "encode")] = _codecs.encode  # bytes written by python 3 at protocol <= 2


class _Refused(Exception):
    """A pickle named something outside :data:`ALLOWED`."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in :data:`ALLOWED`."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("a persistent id")


def read_batch_pickle(path: Path) -> Any:
    """Unpickle ``path`` (latin-1 for python-2 strings) allowing only the types batch files hold."""
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, encoding="latin1").load()
    except _Refused as e:
        raise SpacenasError(f"{path} is not a plain data pickle: it names {e} (allowed: dicts, lists, strings, "
                            "bytes, numbers, numpy arrays and dtypes); refusing to load it") from None
    except OSError as e:
        raise SpacenasError(f"cannot read {path}: {e.strerror or e}") from None
    except Exception as e:  # truncated or malformed pickles fail in many ways; all are bad input
        msg = " ".join(str(e).split()) or type(e).__name__
        raise SpacenasError(f"cannot read {path}: not a valid pickle ({msg})") from None
