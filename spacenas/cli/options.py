"""The one place where command-line text becomes values: the argparse parser that fails on one
line, positive / non-negative integers, comma lists, ``KEY=VALUE`` options (``--set``,
``--supernet``; nested keys ``a.b=v``), method-scoped options of a sweep (``method.key=value``),
devices, and the ``--resume`` / ``--run-dir`` check.

Values of ``KEY=VALUE`` are read as JSON when they parse (``3``, ``0.5``, ``true``, ``[1,2]``,
``{"a": 1}``), else kept as text. Nothing outside :mod:`spacenas.cli` imports this module.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from spacenas.errors import SpacenasError


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line (no usage block) raised as SpacenasError.

    Unrecognized arguments after a subcommand point to that subcommand's ``--help``; a top-level
    flag (``-q``, ``-v``) given after the subcommand says it goes before it; a flag given a hint
    with :func:`flag_hint` says that hint."""

    def error(self, message: str):  # type: ignore[override]
        raise SpacenasError(f"{message} (see '{self.prog} --help')")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        ns, extras = self.parse_known_args(argv, namespace)
        if extras:
            self.unrecognized(ns, extras, argv)
        return ns

    def unrecognized(self, ns: argparse.Namespace, extras: list[str], argv: list[str]) -> None:
        """Raise the one-line error for ``extras``, the arguments nothing took."""
        sub = self.subcommand(ns)
        if sub is not self and extras[0] in argv and sub.prog.split()[-1] in argv \
                and argv.index(extras[0]) < argv.index(sub.prog.split()[-1]):
            sub = self  # given before the subcommand: the top level's
        message = f"unrecognized arguments: {' '.join(extras)}"
        flags = [e.split("=", 1)[0] for e in extras if e.startswith("-")]
        hints: dict[str, str] = getattr(sub, "flag_hints", {})
        for flag in flags:
            if flag in hints:
                raise SpacenasError(f"{message}: {hints[flag]}")
        if sub is not self:
            top = [f for f in flags if f in self._option_string_actions and f not in ("-h", "--help")]
            if top:
                flag = top[0]
                action = self._option_string_actions[flag]
                example = f"{self.prog} {flag}" + ("" if isinstance(action, argparse._VersionAction)
                                                   else f" {sub.prog.split()[-1]} ...")
                raise SpacenasError(f"{message}: {flag} goes before the subcommand ('{example}')")
        sub.error(message)

    def subcommand(self, ns: argparse.Namespace) -> argparse.ArgumentParser:
        """The parser of the subcommand named in ``ns`` (this parser when there is none)."""
        for a in self._actions:
            if isinstance(a, argparse._SubParsersAction):
                chosen = a.choices.get(getattr(ns, a.dest, None) or "")
                if chosen is not None:
                    return chosen
        return self


def flag_hint(parser: argparse.ArgumentParser, flag: str, hint: str) -> None:
    """Make ``flag``, which ``parser`` does not take, fail with ``hint`` (what to do instead)."""
    hints = getattr(parser, "flag_hints", None)
    if hints is None:
        hints = {}
        setattr(parser, "flag_hints", hints)
    hints[flag] = hint


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{v} must be a positive integer")
    return v


def nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must be >= 0")
    return v


def csv_list(text: str) -> list[str]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise argparse.ArgumentTypeError("empty list")
    return items


def json_or_text(raw: str, what: str = "--set value") -> Any:
    """JSON when it parses, else the text; nesting deeper than config.MAX_JSON_DEPTH is an error."""
    from spacenas.config import parse_value

    return parse_value(raw, what)


def seed(text: str) -> int:
    """A ``--seed``: an integer both numpy and torch accept (0..2**63-1)."""
    from spacenas.config import MAX_SEED, check_seed

    v = nonneg_int(text)
    try:
        return check_seed(v, "--seed")
    except SpacenasError:
        raise argparse.ArgumentTypeError(f"{v} is too large (seeds are 0..{MAX_SEED}, i.e. < 2**63)") from None


def nonempty(text: str) -> str:
    """A name flag given as '' is an error, not the default."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty value (leave the flag out for the default)")
    return text


def split_pair(pair: str, flag: str = "--set") -> tuple[str, Any]:
    """``"key=value"`` -> ``("key", value)``; a pair without ``=`` or key is an error."""
    key, sep, raw = pair.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SpacenasError(f"bad {flag} {pair!r}: expected key=value")
    return key, json_or_text(raw, f"{flag} {key}")


def put_nested(out: dict[str, Any], key: str, value: Any, pair: str, flag: str) -> None:
    """``out[a][b] = value`` for ``key = "a.b"`` (a plain key sets ``out[key]``)."""
    *parents, last = key.split(".")
    node = out
    for i, part in enumerate(parents):
        if not part:
            raise SpacenasError(f"bad {flag} {pair!r}: empty key part in {key!r}")
        child = node.get(part)
        if child is None:  # unset or null (the default): a nested value fills it in
            child = node[part] = {}
        if not isinstance(child, dict):
            raise SpacenasError(f"bad {flag} {pair!r}: {'.'.join(parents[:i + 1])!r} is already set to {child!r}")
        node = child
    if not last:
        raise SpacenasError(f"bad {flag} {pair!r}: empty key part in {key!r}")
    if isinstance(node.get(last), dict) and isinstance(value, dict):
        node[last] = {**node[last], **value}
    else:
        node[last] = value


def key_values(pairs: list[str] | None, flag: str = "--set") -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b": {"c": "x"}}`` (nested keys with dots)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, value = split_pair(pair, flag)
        put_nested(out, key, value, pair, flag)
    return out


def method_options(pairs: list[str] | None, methods: list[str], scoped: bool) -> dict[str, dict[str, Any]]:
    """Options per method: ``{method: {key: value}}``.

    ``scoped=False`` (search: one method): every ``key=value`` is an option of ``methods[0]``; a
    dotted key ``a.b=v`` sets ``{"a": {"b": v}}``. ``scoped=True`` (sweep): ``method.key=value``, the
    first part naming one of ``methods`` (the rest may be dotted again); with one method a plain
    ``key=value`` is its option."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs or []:
        key, value = split_pair(pair)
        if scoped:
            method, dot, name = key.partition(".")
            if not dot:
                if len(methods) > 1:
                    raise SpacenasError(f"bad --set {pair!r}: a sweep needs method.key=value "
                                        f"(methods: {', '.join(methods)})")
                method, name = methods[0], key
            elif method not in methods:
                raise SpacenasError(f"bad --set {pair!r}: method {method!r} is not run here "
                                    f"(allowed: {', '.join(methods)})")
        else:
            method, name = methods[0], key
        put_nested(out.setdefault(method, {}), name, value, pair, "--set")
    return out


def device(text: str | None, default: str = "cpu") -> str:
    """A ``--device`` value checked (unknown names, CUDA where there is none), as text."""
    from spacenas.config import parse_device

    return str(parse_device(default if text is None else text))  # '' is an error, not the default


def check_resume(resume: bool, run_dir: str | None) -> None:
    if resume and not run_dir:
        raise SpacenasError("--resume needs --run-dir (the dir of the run to continue)")


def only_for(flags: list[tuple[str, Any]], what: str) -> None:
    """Raise ``"--a, --b: only for <what>"`` naming every flag of ``flags`` that was given."""
    given = [f for f, v in flags if v not in (None, False, [], ())]
    if given:
        raise SpacenasError(f"{', '.join(given)}: only for {what}")
