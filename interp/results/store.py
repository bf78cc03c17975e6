"""The results store: every analysis run, recorded so it can be listed, reloaded and compared.

A run is a row in an embedded SQLite database (``runs.sqlite``: kind, model record, full
config, seed, code version, UTC start/end times, status, a small JSON summary) plus its named
numpy arrays in one safetensors file (``arrays/<run_id>.safetensors``), both under
:func:`interp.core.settings.results_dir` unless another directory is given.

Runs are all-or-nothing: the array file is written under a temporary name, fsynced and renamed
into place, and only then is the row inserted, in one transaction. A process killed at any
point leaves at worst an orphan array file, never a visible partial run. The database is in WAL
mode with a busy timeout, and writers take the write lock up front (``BEGIN IMMEDIATE``,
retried while SQLite reports it locked), so several processes can write at once.

Incremental analyses (e.g. mining FFN trigger examples layer by layer) keep their own tables in
the same database (:meth:`ResultsStore.ensure_table`, :meth:`ResultsStore.transaction`) and
resume from a per-job checkpoint (:meth:`ResultsStore.checkpoint`, ``set_checkpoint``).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import os
import random
import re
import secrets
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from interp.core import settings
from interp.core.errors import InterpError

DB_NAME = "runs.sqlite"
ARRAYS_DIR = "arrays"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, kind TEXT NOT NULL, model TEXT, config TEXT, seed INTEGER,
    code_version TEXT, started_at TEXT NOT NULL, finished_at TEXT, status TEXT,
    summary TEXT, array_names TEXT
);
CREATE INDEX IF NOT EXISTS ix_runs_started ON runs (started_at);
CREATE INDEX IF NOT EXISTS ix_runs_kind_started ON runs (kind, started_at);
CREATE TABLE IF NOT EXISTS checkpoints (job TEXT PRIMARY KEY, state TEXT, updated_at TEXT);
"""
_JSON_FIELDS = ("model", "config", "code_version", "summary", "array_names")
_RESERVED = {"runs", "checkpoints"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One stored run; its arrays are loaded separately with :meth:`ResultsStore.arrays`."""

    run_id: str
    kind: str  # "ioi", "capitals", "ffn_values", "lens", ...
    model: dict[str, Any]  # the model record (interp.core.models.ModelRecord as a dict)
    config: dict[str, Any]  # the full analysis config
    seed: int | None
    code_version: dict[str, Any]  # {"interp": "0.1.0", "git_commit": "<sha>" | None}
    started_at: str  # UTC, ISO 8601
    finished_at: str | None
    status: str
    summary: dict[str, Any]  # small JSON: scalars, lists, the found circuit
    array_names: list[str]

    @property
    def model_name(self) -> str:
        return str(self.model.get("name", "?"))


@dataclasses.dataclass
class RunHandle:
    """Yielded by :meth:`ResultsStore.run`: fill ``summary`` and ``arrays``; ``record`` is set
    once the run is saved."""

    run_id: str
    started_at: str
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    record: RunRecord | None = None


def new_run_id(now: datetime | None = None) -> str:
    """``YYYYMMDD-HHMMSS-<8 hex>`` (UTC): sorts by start time, unique across processes."""
    return f"{(now or _utcnow()).strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The package version and, when the code lives in a git checkout, its commit hash."""
    try:
        cwd = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, timeout=5)
        commit = out.stdout.decode().strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"interp": settings.VERSION, "git_commit": commit or None}


def to_json(value: Any) -> str:
    """JSON text for configs and summaries; numpy scalars and arrays, Paths, dataclasses, enums,
    sets and datetimes are converted, anything else is an :class:`InterpError`."""

    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        if isinstance(o, (np.generic, np.ndarray)) or hasattr(o, "tolist"):
            return o.tolist()
        if isinstance(o, enum.Enum):
            return o.value
        if isinstance(o, (Path, datetime)):
            return o.isoformat() if isinstance(o, datetime) else str(o)
        if isinstance(o, (set, frozenset)):
            return sorted(o, key=repr)
        raise TypeError(f"{type(o).__name__} is not JSON-serialisable")

    try:
        return json.dumps(value, default=default)
    except (TypeError, ValueError) as e:
        raise InterpError(f"cannot store {type(value).__name__} as JSON: {e}") from e


class ResultsStore:
    """Runs, their arrays and analysis tables in one directory (created on first write)."""

    def __init__(self, root: str | os.PathLike | None = None, *, timeout: float = 30.0) -> None:
        self.root = Path(root).expanduser() if root is not None else settings.results_dir()
        self.db_path = self.root / DB_NAME
        self.arrays_dir = self.root / ARRAYS_DIR
        self.timeout = timeout  # seconds a writer waits for the lock
        self._ready = False

    # -- database access for runs and for analyses' own tables ------------------------------
    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """An autocommit connection (WAL, busy timeout, ``sqlite3.Row`` rows), closed on exit;
        use :meth:`transaction` to write several statements atomically."""
        self._init()
        con = sqlite3.connect(self.db_path, timeout=self.timeout, isolation_level=None)
        try:
            con.row_factory = sqlite3.Row
            con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            con.execute("PRAGMA synchronous = NORMAL")
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the write lock from the start (``BEGIN IMMEDIATE``),
        committed on normal exit and rolled back if anything escapes."""
        with self.connect() as con:
            _retry(lambda: con.execute("BEGIN IMMEDIATE"))
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            _retry(con.commit)

    def ensure_table(self, name: str, columns_sql: str, indexes: Sequence[str] = ()) -> None:
        """Create table ``name`` (``columns_sql`` like ``"job TEXT, layer INTEGER, ..."``) and
        an index per column list in ``indexes`` (like ``"job, layer, neuron"``) if missing."""
        if not _IDENTIFIER.fullmatch(name) or name in _RESERVED or name.startswith("sqlite_"):
            raise InterpError(f"invalid or reserved table name {name!r}")
        with self.transaction() as con:
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({columns_sql})")
            for cols in indexes:
                index = f"ix_{name}_" + "_".join(re.findall(r"\w+", cols))
                con.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {name} ({cols})")

    def checkpoint(self, job: str) -> Any:
        """The state last saved for ``job`` with :meth:`set_checkpoint`, or None."""
        with self.connect() as con:
            row = con.execute("SELECT state FROM checkpoints WHERE job = ?", (job,)).fetchone()
        return json.loads(row["state"]) if row else None

    def set_checkpoint(self, job: str, state: Any, con: sqlite3.Connection | None = None) -> None:
        """Record ``job``'s progress (None removes it). Pass the ``con`` of an open
        :meth:`transaction` to commit it together with the rows it accounts for."""
        if con is None:
            with self.transaction() as own:
                return self.set_checkpoint(job, state, own)
        con.execute("DELETE FROM checkpoints WHERE job = ?", (job,))
        if state is not None:
            row = (job, to_json(state), _utcnow().isoformat())
            con.execute("INSERT INTO checkpoints VALUES (?, ?, ?)", row)

    # -- runs -------------------------------------------------------------------------------
    def save(
        self,
        kind: str,
        *,
        model: Any,
        config: Any,
        seed: int | None,
        summary: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray] | None = None,
        started_at: str | None = None,
        run_id: str | None = None,
    ) -> RunRecord:
        """Store a finished run atomically and return its record. ``model`` and ``config`` may
        be dicts or dataclasses; arrays (numeric or bool) come back exactly, dtype included."""
        if run_id is not None and not _RUN_ID.fullmatch(run_id):
            raise InterpError(f"invalid run id {run_id!r}: use letters, digits, '-', '_', '.'")
        run_id = run_id or new_run_id()
        tensors = {str(k): np.asarray(v, order="C") for k, v in (arrays or {}).items()}
        for name, a in tensors.items():
            if a.dtype.kind not in "biuf":
                raise InterpError(f"array {name!r} has dtype {a.dtype}; store numbers or bools")
        values = dict(
            run_id=run_id,
            kind=kind,
            model=to_json(model),
            config=to_json(config),
            seed=None if seed is None else int(seed),
            code_version=to_json(code_version()),
            started_at=started_at or _utcnow().isoformat(),
            finished_at=_utcnow().isoformat(),
            status="complete",
            summary=to_json(dict(summary)),
            array_names=to_json(sorted(tensors)),
        )
        if self._array_path(run_id).exists() or self._row(run_id) is not None:
            raise InterpError(f"run id {run_id!r} is already in the results store {self.root}")
        if tensors:
            self._write_arrays(run_id, tensors)
        with self.transaction() as con:
            sql = f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})"
            con.execute(sql, list(values.values()))
        return _record(values)

    @contextmanager
    def run(self, kind: str, *, model: Any, config: Any, seed: int | None) -> Iterator[RunHandle]:
        """Record the ``with`` block as a run: fill ``handle.summary`` and ``handle.arrays``.
        It is saved when the block ends normally; if anything escapes (an error,
        KeyboardInterrupt) nothing is stored and the exception propagates. Model and config
        are captured on entry, so unserialisable ones fail before the work starts."""
        model_json, config_json = to_json(model), to_json(config)
        now = _utcnow()
        handle = RunHandle(run_id=new_run_id(now), started_at=now.isoformat())
        yield handle
        handle.record = self.save(
            kind,
            model=json.loads(model_json),
            config=json.loads(config_json),
            seed=seed,
            summary=handle.summary,
            arrays=handle.arrays,
            started_at=handle.started_at,
            run_id=handle.run_id,
        )

    def list(self, kind: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Stored runs, newest first, optionally only those of ``kind`` and at most ``limit``."""
        if not self.db_path.exists():
            return []
        where, params = ("WHERE kind = ?", [kind]) if kind is not None else ("", [])
        sql = f"SELECT * FROM runs {where} ORDER BY started_at DESC, rowid DESC LIMIT ?"
        with self.connect() as con:
            rows = con.execute(sql, [*params, -1 if limit is None else int(limit)])
            return [_record(dict(row)) for row in rows]

    def get(self, run_id: str) -> RunRecord:
        """The record of ``run_id``; :class:`InterpError` if there is no such run."""
        row = self._row(run_id)
        if row is None:
            raise InterpError(f"no run {run_id!r} in the results store {self.root}")
        return _record(dict(row))

    def arrays(self, run_id: str, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """The arrays of ``run_id``: all of them, or only ``names``."""
        from safetensors import safe_open

        record = self.get(run_id)
        wanted = list(record.array_names if names is None else names)
        missing = sorted(set(wanted) - set(record.array_names))
        if missing:
            raise InterpError(f"run {run_id} has no arrays {missing}; it has {record.array_names}")
        if not wanted:
            return {}
        with safe_open(str(self._array_path(run_id)), framework="np") as f:
            return {name: f.get_tensor(name) for name in wanted}

    def delete(self, run_id: str) -> None:
        """Remove a run: its row first (so it disappears at once), then its array file."""
        self.get(run_id)
        with self.transaction() as con:
            con.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        self._array_path(run_id).unlink(missing_ok=True)

    def compare(self, run_ids: Sequence[str]) -> dict[str, Any]:
        """Runs side by side: kind, model name, seed and summary per run, the config keys
        (nested ones dotted) whose values differ (value per run) and those all runs share."""
        records = [self.get(run_id) for run_id in run_ids]
        flat = [_flatten(r.config) for r in records]
        differ: dict[str, dict[str, Any]] = {}
        same: dict[str, Any] = {}
        for key in sorted(set().union(*flat)):
            values = [f.get(key, _MISSING) for f in flat]
            if all(v is not _MISSING and v == values[0] for v in values):
                same[key] = values[0]
            else:
                differ[key] = {r.run_id: f.get(key) for r, f in zip(records, flat)}
        return {
            "run_ids": [r.run_id for r in records],
            "kinds": {r.run_id: r.kind for r in records},
            "models": {r.run_id: r.model_name for r in records},
            "seeds": {r.run_id: r.seed for r in records},
            "config_diff": differ,
            "config_same": same,
            "summaries": {r.run_id: r.summary for r in records},
        }

    # -- internals --------------------------------------------------------------------------
    def _init(self) -> None:
        if self._ready:
            return
        self.arrays_dir.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.db_path, timeout=self.timeout, isolation_level=None)
        try:
            _retry(lambda: con.execute("PRAGMA journal_mode = WAL"))
            _retry(lambda: con.executescript(_SCHEMA))
        finally:
            con.close()
        self._ready = True

    def _row(self, run_id: str) -> sqlite3.Row | None:
        if not self.db_path.exists():
            return None
        with self.connect() as con:
            return con.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()

    def _array_path(self, run_id: str) -> Path:
        return self.arrays_dir / f"{run_id}.safetensors"

    def _write_arrays(self, run_id: str, tensors: dict[str, np.ndarray]) -> None:
        """Write to a temporary file in the same directory, fsync, rename into place."""
        import safetensors.numpy

        self._init()
        final = self._array_path(run_id)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            safetensors.numpy.save_file(tensors, str(tmp))
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
            fd = os.open(self.arrays_dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def format_runs_table(records: Sequence[RunRecord], summary_width: int = 48) -> str:
    """A plain-text table for ``interp runs``: run id, kind, model, status, start time and the
    summary's scalar entries, cut to ``summary_width`` characters."""
    if not records:
        return "no runs recorded"
    rows = [("run id", "kind", "model", "status", "started (UTC)", "summary")]
    for r in records:
        items = (f"{k}={_short(v)}" for k, v in r.summary.items() if not isinstance(v, dict))
        short = ", ".join(items)
        if len(short) > summary_width:
            short = short[: summary_width - 1] + "…"
        started = r.started_at[:19].replace("T", " ")
        rows.append((r.run_id, r.kind, r.model_name, r.status, started, short))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[5] for row in rows
    )


_MISSING = object()


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"[{len(value)}]" if isinstance(value, list) else str(value)


def _record(values: Mapping[str, Any]) -> RunRecord:
    return RunRecord(**{k: json.loads(v) if k in _JSON_FIELDS else v for k, v in values.items()})


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _retry(fn: Any, attempts: int = 8) -> Any:
    """Call ``fn``, retrying while SQLite reports the database locked or busy."""
    for attempt in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if attempt == attempts - 1 or not ("locked" in str(e) or "busy" in str(e)):
                raise
            time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)
