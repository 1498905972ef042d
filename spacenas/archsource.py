"""Where an architecture comes from: its text, a file holding the text, or a finished search run
dir (``--arch`` of ``train``, the argument of ``show``, ``init_archs``), and which space it is in.

Texts are parsed before they are taken for a path (a plugin space's text may hold '/'); a text
that no space parses and that looks like a path is named as a missing file or run dir. A run
dir gives its ``arch.txt``, the space and the data it searched (:mod:`spacenas.runs` reads it).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from spacenas.errors import SpacenasError
from spacenas.runs import ARCH, read_run


def read_arch_text(value: str) -> str:
    """``value`` itself, or the stripped contents of the file it names (``--arch`` accepts both).
    A missing path is not an error here: a space's text may hold '/' (``2/32/relu``); callers name
    the missing path (:func:`check_arch_path`) only when no space parses the text."""
    text = value.strip()
    if text and "\n" not in text and len(text) < 1024:
        try:
            if Path(text).is_file():
                return _read_text_file(Path(text), "architecture file")
        except OSError:  # not a usable path (e.g. a long genotype): it is the text
            pass
    return text


#: characters of every space's architecture text (NB201 ``|op~0|``, a genotype ``Genotype(...)``,
#: an open cell ``r6:add:|...|``); a value with a path separator and none of them is a path
_ARCH_TEXT_MARKS = ("|", "(", "[", "{", "~")


def has_arch_text_marks(value: str) -> bool:
    """Whether ``value`` holds a character of an architecture text (``|``, ``(``, ``~`` ...)."""
    return any(m in value for m in _ARCH_TEXT_MARKS)


def looks_like_path(value: str) -> bool:
    text = value.strip()
    return bool(text) and not has_arch_text_marks(text) and (
        "/" in text or os.sep in text or text.endswith((".txt", ".json")))


def check_arch_path(value: str) -> None:
    """A missing file or dir given as ``--arch`` is named as such (not as a bad architecture text)."""
    if looks_like_path(value) and not Path(value.strip()).expanduser().exists():
        raise SpacenasError(f"architecture {value.strip()}: no such file or run dir (an architecture is given "
                            "as its text, a file holding it, or a finished search run dir)")


#: an arch file is one line of text; anything bigger is not one
MAX_ARCH_FILE_BYTES = 1 << 20


def _read_text_file(path: Path, what: str) -> str:
    """The stripped UTF-8 text of ``path``; one line naming the file if it is binary or huge."""
    if path.stat().st_size > MAX_ARCH_FILE_BYTES:
        raise SpacenasError(f"{what} {path} is {path.stat().st_size} bytes; expected one line of architecture text")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpacenasError(f"{what} {path} is not UTF-8 text (byte {e.start}); expected one line of "
                            "architecture text") from None
    if "\x00" in text:
        raise SpacenasError(f"{what} {path} holds NUL bytes; expected one line of architecture text")
    return text.strip()


def is_dir_arg(text: str) -> bool:
    try:
        return bool(text.strip()) and "\n" not in text and Path(text).expanduser().is_dir()
    except (OSError, ValueError):  # arch texts can be too long or odd for a path
        return False


def arch_source_space(source: str) -> str | None:
    """The space name recorded by a run dir given as ``--arch``, or ``None`` (not a run dir)."""
    if not isinstance(source, str) or not is_dir_arg(source):
        return None
    info = read_run(source)
    space = (info.result or {}).get("arch_space") or info.config.get("space") or (info.result or {}).get("space")
    return space if isinstance(space, str) else None


#: what a space's ``parse`` raises for a text it does not accept (plugin parsers too)
_PARSE_ERRORS = (SpacenasError, ValueError, TypeError, KeyError, IndexError)


#: the config key under which a kind of run records the image data it searched (default ``data``)
_DATA_KEYS: dict[str, str] = {"supernet": "dataset"}


def arch_source_data(source: str) -> tuple[str, str | None] | None:
    """``(data, data_dir)`` a finished run dir given as ``--arch`` searched on (its config's
    ``data``, and ``data_dir`` if recorded), or ``None`` (not a run dir, or no data recorded)."""
    if not isinstance(source, str) or not is_dir_arg(source):
        return None
    info = read_run(source)
    data = info.config.get(_DATA_KEYS.get(info.kind, "data"))
    data_dir = info.config.get("data_dir")
    if not isinstance(data, str) or not data:
        return None
    return data, data_dir if isinstance(data_dir, str) and data_dir else None


def space_of_arch(source: str) -> str:
    """The space of an architecture given without one: the space a run dir searched, else the one
    registered space whose parser accepts the text (a file's text included); several or none is a
    one-line error asking for the space."""
    from spacenas import registry
    recorded = arch_source_space(source)
    if recorded is not None:
        return recorded
    if is_dir_arg(source):
        raise SpacenasError(f"run dir {source} does not record its space; pass --space")
    text = read_arch_text(source)
    fits = []
    for name in registry.SPACES:
        try:
            registry.space(name).parse(text)
        except _PARSE_ERRORS:
            continue
        fits.append(name)
    if len(fits) == 1:
        return fits[0]
    short = text if len(text) <= 60 else text[:57] + "..."
    if not fits:
        check_arch_path(source)
        _no_space_fits(short)
    raise SpacenasError(f"{short!r} fits several spaces ({', '.join(fits)}); pass --space")


def _no_space_fits(short: str) -> None:
    """The error for a text that no registered space parses: a text without any architecture-text
    mark is most likely a mistyped run dir or file name, and is named as such."""
    from spacenas import registry
    if not has_arch_text_marks(short):
        raise SpacenasError(f"architecture {short!r} is neither a file or run dir nor the text of an architecture "
                            f"of a known space (spaces: {', '.join(registry.SPACES)}); give a finished search run "
                            "dir, a file holding the text, or the text (with --space to see what is wrong with it)")
    raise SpacenasError(f"{short!r} is an architecture of no known space (spaces: {', '.join(registry.SPACES)}); "
                        "pass --space to see what is wrong with it")


def resolve_arch(source: Any, space):
    """An :class:`~spacenas.spaces.base.Arch` from an Arch, its text, a file holding the text, or a
    finished run dir (its ``arch.txt``); checked against ``space``."""
    from spacenas.spaces.base import Arch

    if isinstance(source, Arch):
        return space.check(source)
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise SpacenasError(f"--arch must be an architecture text, a file or a run dir, got {type(source).__name__}")
    if is_dir_arg(source):
        info = read_run(source)
        if info.arch is None:
            raise SpacenasError(f"run dir {source} holds no found architecture (no {ARCH}; is the run finished?)")
        recorded = arch_source_space(source)
        if isinstance(recorded, str) and recorded != space.name and not space.name.startswith(recorded):
            raise SpacenasError(f"run dir {source} searched space {recorded!r}, not {space.name!r}")
        discarded = ((info.result or {}).get("final") or {}).get("discarded")
        if discarded:  # the method's own rule (A-DARTS): said, not refused
            logging.getLogger(__name__).warning(f"warning: the method's rule discards the arch of {source} "
                                                f"({discarded}); it is used as asked")
        return space.parse(info.arch)
    return parse_arch_text(source, space)


def parse_arch_text(source: str, space):
    """``space.parse`` of ``source`` (the text, or a file holding it). The text is parsed first, so
    a space whose texts hold '/' works; only a text the space rejects that looks like a path and
    does not exist is named as a missing file or run dir. A plugin parser's own exception becomes
    one line naming the space."""
    text = read_arch_text(source)
    try:
        return space.parse(text)
    except _PARSE_ERRORS as e:
        check_arch_path(source)
        if isinstance(e, SpacenasError):
            raise
        short = text if len(text) <= 60 else text[:57] + "..."
        raise SpacenasError(f"space {space.name!r} cannot parse architecture {short!r}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from None
