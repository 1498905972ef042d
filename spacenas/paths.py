"""Output paths, checked before the work starts (so a long run never dies at its last write).

:func:`check_output_path` refuses, with one line naming the path and the reason: an empty path,
a path under an existing file, a file where a directory is wanted (or the reverse), and a place
this process cannot write (read-only file system, no permission, ``/proc``). Writability is
probed for real (a temporary file is created and removed in the nearest existing directory),
since permission bits say nothing for root or for special file systems. Nothing else is created.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from spacenas.errors import SpacenasError


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output_path(path: str | os.PathLike | None, what: str = "output path", *, directory: bool = False) -> Path:
    """``path`` as a :class:`Path` if something can be written there (a file, or with
    ``directory=True`` a directory, possibly still to be created); else a one-line
    :class:`SpacenasError`."""
    if path is None or not str(path).strip():
        raise SpacenasError(f"empty {what}: expected a {'directory' if directory else 'file'} path")
    if "\x00" in str(path):
        raise SpacenasError(f"bad {what} {str(path)!r}: contains a NUL byte")
    p = Path(path).expanduser()
    kind = "directory" if directory else "file"
    try:
        p.exists()
    except OSError as e:  # e.g. a name too long for the file system
        raise SpacenasError(f"bad {what} {str(p)[:80]}...: {e.strerror or e}") from None
    if p.exists():
        if directory and not p.is_dir():
            raise SpacenasError(f"bad {what} {p}: it is a file, expected a directory")
        if not directory and p.is_dir():
            raise SpacenasError(f"bad {what} {p}: it is a directory, expected a file path")
    anc = _nearest_existing(p if directory or not p.exists() else p.parent)
    if anc != p and not anc.is_dir():
        raise SpacenasError(f"bad {what} {p}: {anc} is a file, so no {kind} can be created under it")
    probe_dir = anc if anc.is_dir() else anc.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=".spacenas-probe-", dir=probe_dir)
    except OSError as e:
        raise SpacenasError(f"cannot write {what} {p}: {probe_dir} is not writable ({e.strerror or e})") from None
    os.close(fd)
    os.unlink(tmp)
    if p.exists() and not directory and not os.access(p, os.W_OK):
        raise SpacenasError(f"cannot write {what} {p}: the file exists and is not writable")
    return p
