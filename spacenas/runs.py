"""THE run-dir owner: every kind of run (query, one-shot, supernet, autospace, autospace-search,
train, sweep) creates, locks, checkpoints, resumes and finishes its directory here.

A run dir holds::

    config.json     {"kind": ..., everything needed to rebuild the run}   (written on creation)
    log.jsonl       one JSON object per step / epoch / round
    checkpoint.pt   the resumable state (see below)
    result.json     written last, atomically; has "kind" (and "arch" where the run finds one)
    arch.txt        the found arch, one line of text (what ``train --arch``, ``show`` and
                    ``--set init_archs`` read)
    .lock           held (``fcntl.flock``) by the one process using the dir; holds its PID

Lifecycle (:meth:`RunDir.open`):

* a new (or empty) dir is created and its ``config.json`` written;
* a dir left by a run killed before its first checkpoint (a config, no checkpoint, no result)
  is taken over by a new run (its leftovers are removed), with or without ``resume``;
* a dir holding a checkpoint or a result is refused without ``resume``; with ``resume`` the
  stored config must equal this run's (the differing keys are named), and a finished run
  returns its stored result (:attr:`RunDir.result`);
* a second process on a locked dir gets one line naming the dir and the holder's PID (the OS
  drops the lock when the holder dies, also on ``kill -9``);
* temp files (``NAME.XXXX.tmp``) left by killed runs are removed once the lock is held.

Every file is written atomically: a temp file with a unique name in the same dir, ``fsync``,
``os.replace``. The checkpoint cannot run code when loaded: it is ``torch.save`` of a tree of
plain values (dict, list, tuple, str, int, float, bool, None) and tensors, checked before saving
and loaded with ``torch.load(weights_only=True)``. Numpy arrays and generator states must be
converted by the state's owner (``bit_generator.state`` is a plain dict, a torch generator's
state is a tensor). A run dir from an older version (``checkpoint.pkl``, a pickle) is refused
without being read.

The log is appended only after the checkpoint that covers it has been written (records are
buffered by :meth:`RunDir.log` and written by :meth:`RunDir.checkpoint` / :meth:`RunDir.finish`);
the checkpoint also carries the records it covers that may not have reached the log yet, so a
resumed run rebuilds the log exactly: the log of a killed-and-resumed run equals an
uninterrupted run's.
"""
from __future__ import annotations

import errno
import fcntl
import io
from collections import OrderedDict
from contextlib import contextmanager
import json
import math
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacenas.errors import SpacenasError

KINDS = ("query", "oneshot", "supernet", "autospace", "autospace-search", "train", "sweep")
#: run kind -> the ``spacenas`` subcommand that makes (and re-runs) it
KIND_COMMANDS = {"query": "search", "supernet": "search", "oneshot": "search", "train": "train",
                 "autospace": "autospace", "autospace-search": "autospace-search", "sweep": "sweep"}
CONFIG, LOG, CHECKPOINT, RESULT, ARCH, LOCK = (
    "config.json", "log.jsonl", "checkpoint.pt", "result.json", "arch.txt", ".lock")
LEGACY_CHECKPOINTS = ("checkpoint.pkl",)
CHECKPOINT_FORMAT = "spacenas.checkpoint/2"
_TMP = re.compile(r"^.+\.[A-Za-z0-9_]{6,}\.tmp$")
_LEGACY_TMP = re.compile(r"^(checkpoint\.tmp|checkpoint\.pt\.tmp)$")


# ----- atomic files ---------------------------------------------------------------------------
def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically (unique temp file beside it, fsync, ``os.replace``)."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _atomic(path, lambda f: f.write(data))


def _atomic(path: Path, write) -> Path:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    except OSError as e:
        raise SpacenasError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results should read like any file
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise SpacenasError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON, atomically."""
    return atomic_write(path, json.dumps(obj, indent=2) + "\n")


def torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` atomically (weights files, supernet caches)."""
    import torch

    return _atomic(Path(path), lambda f: torch.save(obj, f))


def read_json(path: str | Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SpacenasError(f"cannot read {what} {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None


def clean_temp_files(d: str | Path) -> list[Path]:
    """Remove temp files of atomic writes (``NAME.XXXXXX.tmp``) left in ``d`` by killed runs.
    Call only while holding the dir's lock."""
    gone = []
    for p in Path(d).iterdir():
        if p.is_file() and (_TMP.match(p.name) or _LEGACY_TMP.match(p.name)):
            p.unlink(missing_ok=True)
            gone.append(p)
    return gone


# ----- plain state -------------------------------------------------------------------------------
def check_plain(obj: Any, where: str = "state") -> None:
    """Raise ``TypeError`` naming the first value in ``obj`` that a checkpoint cannot hold (allowed:
    dict with str/int keys, list, tuple, str, int, float, bool, None, torch.Tensor)."""
    import torch

    if obj is None or isinstance(obj, (bool, int, float, str)) or isinstance(obj, torch.Tensor):
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")
        return
    if type(obj) in (dict, OrderedDict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"{where}: key {k!r} is of type {type(k).__name__} (checkpoint keys: str or int)")
            check_plain(v, f"{where}[{k!r}]")
        return
    raise TypeError(f"{where} is a {type(obj).__module__}.{type(obj).__name__}; a checkpoint holds only "
                    "plain values and tensors (convert it in the owner's state_dict)")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (plain values and tensors only, see :func:`check_plain`) atomically."""
    check_plain(state)
    return torch_save({"format": CHECKPOINT_FORMAT, "state": state}, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state of a checkpoint written by :func:`save_checkpoint`; never runs code from the file."""
    import torch

    p = Path(path)
    try:
        data = p.read_bytes()  # OS errors here; every error of torch.load below is about the content
    except OSError as e:
        raise SpacenasError(f"cannot read checkpoint {p}: {e.strerror or e}") from None
    try:
        doc = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - refused or corrupt files raise many types (OSError included)
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        if type(e).__name__ == "UnpicklingError":  # torch's weights-only refusal (a long, styled text)
            first = "it holds objects other than plain values and tensors; nothing in it was run"
        raise SpacenasError(f"refused checkpoint {p}: not a spacenas checkpoint or corrupt ({type(e).__name__}"
                            f"{': ' + first if first else ''}); delete it to start the run over") from None
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT or not isinstance(doc.get("state"), dict):
        raise SpacenasError(f"refused checkpoint {p}: not a spacenas checkpoint (format {CHECKPOINT_FORMAT}); "
                            "delete it to start the run over")
    return doc["state"]


@contextmanager
def restoring(path: str | Path):
    """Around the code that puts a loaded checkpoint state back into live objects: a state that
    does not fit (missing keys, wrong types, tensors of other shapes) is refused in one line
    instead of a traceback."""
    try:
        yield
    except SpacenasError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        if type(e).__name__ == "UnpicklingError":  # torch's weights-only refusal (a long, styled text)
            first = "it holds objects other than plain values and tensors; nothing in it was run"
        raise SpacenasError(f"refused checkpoint {path}: its state does not fit this run ({type(e).__name__}"
                            f"{': ' + first if first else ''}); delete it to start the run over") from None


def config_diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two (JSON) configs."""
    out = []
    for k in sorted(set(a) | set(b), key=str):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_diff(va, vb, f"{prefix}{k}.")
        elif json.dumps(va, sort_keys=True) != json.dumps(vb, sort_keys=True):
            out.append(f"{prefix}{k}")
    return out


def plain_json(obj: Any) -> Any:
    """``obj`` through JSON (tuples -> lists), so it compares equal to a reloaded copy."""
    return json.loads(json.dumps(obj))


# ----- the lock ----------------------------------------------------------------------------------
class Lock:
    """An exclusive ``fcntl.flock`` on ``DIR/.lock`` (released by the OS when the process dies)."""

    def __init__(self, d: Path) -> None:
        self.path = d / LOCK
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise SpacenasError(f"cannot use run dir {d}: {e.strerror or e}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = ""
            try:
                holder = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip()
            except OSError:
                pass
            os.close(self.fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise SpacenasError(f"run dir {d} is in use by another process (PID {holder or 'unknown'}); "
                                    "wait for it to finish or use another run dir") from None
            raise SpacenasError(f"cannot lock run dir {d}: {e.strerror or e}") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            os.close(self.fd)  # closing drops the flock
            self.fd = None


# ----- the run dir -------------------------------------------------------------------------------
class RunDir:
    """One locked run dir; see the module docstring. Use as a context manager (or call
    :meth:`close`): ``with RunDir.open(path, config, resume=...) as rd: ...``."""

    def __init__(self, path: Path, config: dict[str, Any], lock: Lock) -> None:
        self.path, self.config, self._lock = path, config, lock
        self.result: dict[str, Any] | None = None  # a finished run's stored result
        self.state: dict[str, Any] | None = None  # the checkpointed state when resuming
        self.log_lines = 0
        self._pending: list[dict[str, Any]] = []

    @property
    def resumed(self) -> bool:
        return self.state is not None

    @classmethod
    def open(cls, path: str | Path, config: dict[str, Any], *, resume: bool = False) -> RunDir:
        """Create, take over, or (``resume``) reopen a run dir; one-line errors otherwise."""
        kind = config.get("kind")
        if kind not in KINDS:
            raise ValueError(f"run config needs a 'kind' in {KINDS}, got {kind!r}")
        d = Path(path).expanduser()
        config = plain_json(config)
        if resume and not (d / CONFIG).is_file():
            raise SpacenasError(f"nothing to resume: {d} holds no run (no {CONFIG}); run without --resume "
                                "to start it")
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SpacenasError(f"cannot use run dir {d}: {e.strerror or e}") from None
        if not d.is_dir():
            raise SpacenasError(f"cannot use run dir {d}: not a directory")
        lock = Lock(d)
        rd = cls(d, config, lock)
        try:
            rd._prepare(resume)
        except BaseException:
            lock.release()
            raise
        return rd

    def _prepare(self, resume: bool) -> None:
        d = self.path
        for name in LEGACY_CHECKPOINTS:
            if (d / name).exists():
                raise SpacenasError(f"{d} was written by an older spacenas ({name}, a pickle, is never loaded); "
                                    "start the run again in a new run dir (its result.json, if any, can still "
                                    "be reported)")
        clean_temp_files(d)
        has_cfg, has_ck, has_res = ((d / n).is_file() for n in (CONFIG, CHECKPOINT, RESULT))
        if has_cfg and (has_ck or has_res) and not resume:
            raise SpacenasError(f"run dir {d} already holds a run; use --resume to continue it, or choose "
                                "another run dir")
        if has_cfg and resume:
            stored = read_json(d / CONFIG, "run config")
            if not isinstance(stored, dict):
                raise SpacenasError(f"cannot resume: {d / CONFIG} is not a JSON object")
            diff = config_diff(stored, self.config)
            if diff:
                raise SpacenasError(f"cannot resume: run dir {d} holds a run with other settings (differs in: "
                                    f"{', '.join(diff)}); use the same options or another run dir")
        if has_cfg and (has_ck or has_res):
            if has_res:
                self.result = read_json(d / RESULT, "run result")
                return
            st = load_checkpoint(d / CHECKPOINT)
            try:
                self.state, n, pending = st["run"], int(st["log_lines"]), list(st["log_pending"])
            except (KeyError, TypeError, ValueError):
                raise SpacenasError(f"refused checkpoint {d / CHECKPOINT}: not a run checkpoint; delete it "
                                    "to start the run over") from None
            self._restore_log(n, pending)
            self.log_lines = n
            return
        if not has_cfg and (has_ck or has_res):
            raise SpacenasError(f"cannot use {d} as a run dir: it holds a {CHECKPOINT if has_ck else RESULT} but no "
                                f"{CONFIG} (another program's files?); choose a new dir")
        # new dir, or a run killed before its first checkpoint: start (over)
        for name in (LOG, ARCH, CHECKPOINT):
            (d / name).unlink(missing_ok=True)
        write_json(d / CONFIG, self.config)

    def _restore_log(self, n: int, pending: list[dict[str, Any]]) -> None:
        path, keep = self.path / LOG, n - len(pending)
        try:
            lines = path.read_bytes().splitlines(keepends=True) if path.exists() else []
        except OSError as e:
            raise SpacenasError(f"cannot read log {path}: {e.strerror or e}") from None
        if len(lines) < keep or any(not ln.endswith(b"\n") for ln in lines[:keep]):
            raise SpacenasError(f"log {path} is shorter than its checkpoint ({len(lines)} < {keep} lines); "
                                "delete the run dir to start over")
        body = b"".join(lines[:keep]) + b"".join(_line(r) for r in pending)
        atomic_write(path, body)

    # ----- during the run ------------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        """Queue one log record; it reaches ``log.jsonl`` after the next checkpoint (or finish)."""
        self._pending.append(plain_json(record))

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Write the checkpoint (``state``: plain values and tensors), then the queued log records."""
        n = self.log_lines + len(self._pending)
        save_checkpoint(self.path / CHECKPOINT, {"run": state, "log_lines": n, "log_pending": self._pending})
        self._flush_log()

    def _flush_log(self) -> None:
        if not self._pending:
            return
        try:
            with open(self.path / LOG, "ab") as f:
                f.write(b"".join(_line(r) for r in self._pending))
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise SpacenasError(f"cannot write log in {self.path}: {e.strerror or e}") from None
        self.log_lines += len(self._pending)
        self._pending = []

    def write_file(self, name: str, data: bytes | str) -> Path:
        """Another file of the run (plots, weights, exports' metadata), atomically."""
        return atomic_write(self.path / name, data)

    def finish(self, result: dict[str, Any], arch: str | None = None) -> dict[str, Any]:
        """Flush the log, write ``arch.txt`` (when there is a found arch) and ``result.json`` (last)."""
        self._flush_log()
        result = {"kind": self.config["kind"], **result}
        if arch is not None:
            result.setdefault("arch", arch)
            atomic_write(self.path / ARCH, arch.strip() + "\n")
        write_json(self.path / RESULT, _finite_json(result))
        self.result = result
        return result

    def close(self) -> None:
        self._lock.release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record) + "\n").encode("utf-8")


def _finite_json(obj: Any) -> Any:
    """NaN/inf -> None, so result.json is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_json(v) for v in obj]
    return obj


# ----- default dirs ----------------------------------------------------------------------------
def default_run_dir(kind: str, method: str | None = None, root: str | Path = "runs") -> Path:
    """A fresh ``ROOT/<kind>-<method>-<YYYYmmdd-HHMMSS>[-N]`` (created, empty)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = "-".join(x for x in (kind, method, stamp) if x)
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", base)
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpacenasError(f"cannot create {root}: {e.strerror or e}") from None
    for n in range(1, 10_000):
        d = root / (base if n == 1 else f"{base}-{n}")
        try:
            d.mkdir()
            return d
        except FileExistsError:
            continue
        except OSError as e:
            raise SpacenasError(f"cannot create {d}: {e.strerror or e}") from None
    raise SpacenasError(f"cannot find a free run dir name under {root}")


def fresh_run_dir(command: str, method: str | None = None, space: str | None = None) -> Path | None:
    """The default run dir of a CLI run started without ``--run-dir``: a fresh
    ``$SPACENAS_RUNS/<kind>-<method>-<time>`` (``$SPACENAS_RUNS`` defaults to ``runs``); ``None``
    for commands without run dirs and for ranks of a multi-process run (they need an explicit one)."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        return None
    kind = command
    if command == "search":
        from spacenas import registry

        kind = ("oneshot" if method in registry.ONESHOT_STRATEGIES
                else "supernet" if space in registry.SUPERNET_SPACES else "query")
    if kind not in KINDS:
        return None
    return default_run_dir(kind, method, os.environ.get("SPACENAS_RUNS") or "runs")


# ----- reading run dirs --------------------------------------------------------------------------
@dataclass
class RunInfo:
    path: Path
    kind: str
    config: dict[str, Any]
    result: dict[str, Any] | None  # None: not finished
    arch: str | None  # arch.txt (or result["arch"]), None when there is none


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def read_run(path: str | Path) -> RunInfo:
    """kind / config / result / arch of a run dir (JSON and text only; one-line errors)."""
    d = Path(path).expanduser()
    if not d.is_dir():
        raise SpacenasError(f"not a run dir: {d} is not a directory")
    if not (d / CONFIG).is_file():
        raise SpacenasError(f"not a run dir: {d} has no {CONFIG}")
    config = read_json(d / CONFIG, "run config")
    if not isinstance(config, dict):
        raise SpacenasError(f"bad run config {d / CONFIG}: not a JSON object")
    kind = config.get("kind")
    if kind not in KINDS:
        raise SpacenasError(f"bad run config {d / CONFIG}: 'kind' is {kind!r} (allowed: {', '.join(KINDS)})")
    result = read_json(d / RESULT, "run result") if (d / RESULT).is_file() else None
    if result is not None and not isinstance(result, dict):
        raise SpacenasError(f"bad run result {d / RESULT}: not a JSON object")
    arch = None
    if (d / ARCH).is_file():
        try:
            arch = (d / ARCH).read_text(encoding="utf-8").strip() or None
        except (OSError, UnicodeDecodeError) as e:
            raise SpacenasError(f"cannot read {d / ARCH}: {type(e).__name__}") from None
    elif result is not None and isinstance(result.get("arch"), str):
        arch = result["arch"]
    return RunInfo(d, kind, config, result, arch)
