"""The FFN-mining tables of the results store: jobs, trigger examples, windows and shards.

:mod:`interp.methods.mining` streams a corpus through a model and keeps every neuron's top-k
trigger examples; this module is where they live, in the store's SQLite database beside the
runs (:meth:`~interp.results.store.ResultsStore.ensure_table`). It holds every SQL statement
of the miner and hands back plain rows, dicts and numpy arrays; the miner builds its result
objects from them.

* ``ffn_mining_jobs``: one row per job (model, corpus fingerprint, window, k, batch size,
  layers, token counts, status, throughput);
* ``ffn_examples``: (job, layer, neuron, rank) -> activation, window, position, trigger
  token, next token (and its decoded piece), indexed on (job, layer, neuron);
* ``ffn_windows``: the token ids and decoded pieces of every window an example refers to;
* ``ffn_mining_shards``: the shards of a sharded job (``interp mine --workers N``) that are
  merged into the examples, so a restarted driver skips them.

Example::

    >>> from interp.results.store import ResultsStore
    >>> store = ResultsStore("/tmp/interp-doc-store")
    >>> ensure_tables(store)
    >>> job_row(store, "mine-missing") is None
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np

JOBS, EXAMPLES, WINDOWS = "ffn_mining_jobs", "ffn_examples", "ffn_windows"
SHARDS = "ffn_mining_shards"
JOBS_SQL = (
    "job TEXT PRIMARY KEY, model TEXT, model_key TEXT, corpus TEXT, fingerprint TEXT, "
    "window INTEGER, k INTEGER, batch_size INTEGER, layers TEXT, d_mlp INTEGER, "
    "max_tokens INTEGER, n_tokens INTEGER, n_windows INTEGER, joiner TEXT, status TEXT, "
    "tokens_per_s REAL, created_at TEXT, updated_at TEXT"
)
EXAMPLES_SQL = (
    "job TEXT, layer INTEGER, neuron INTEGER, example_rank INTEGER, activation REAL, "
    "window_index INTEGER, position INTEGER, token INTEGER, next_token INTEGER, next_piece TEXT"
)
WINDOWS_SQL = "job TEXT, window_index INTEGER, tokens TEXT, pieces TEXT"
SHARDS_SQL = (
    "job TEXT, shard INTEGER, first_batch INTEGER, stop_batch INTEGER, n_tokens INTEGER, "
    "seconds REAL, worker TEXT, finished_at TEXT"
)
#: the columns of ``ffn_mining_jobs`` in table order (what :func:`start_job` inserts)
JOB_COLUMNS = [c.split()[0] for c in JOBS_SQL.split(", ")]
#: names of the arrays :func:`top_k_arrays` returns, [layer slot, neuron, rank] each
ARRAY_NAMES = ("activation", "window_index", "position", "token", "next_token")


def now() -> str:
    """UTC, ISO 8601 (the tables' time stamps)."""
    return datetime.now(timezone.utc).isoformat()


def ensure_tables(store) -> None:
    """Create the mining tables and their indexes if missing (old stores gain the shards
    table; nothing else changes)."""
    store.ensure_table(JOBS, JOBS_SQL, indexes=["model_key, status"])
    store.ensure_table(EXAMPLES, EXAMPLES_SQL, indexes=["job, layer, neuron"])
    store.ensure_table(WINDOWS, WINDOWS_SQL, indexes=["job, window_index"])
    store.ensure_table(SHARDS, SHARDS_SQL, indexes=["job, shard"])


def _job_dict(row) -> dict[str, Any]:
    item = dict(row)
    item["layers"] = json.loads(item["layers"])
    return item


def job_rows(store, model_key: str | None = None) -> list[dict[str, Any]]:
    """Jobs (of the model with key ``model_key`` only, when given), newest first; ``layers``
    decoded to a list. An empty list when the store has no database yet."""
    if not store.db_path.exists():
        return []
    ensure_tables(store)
    with store.connect() as con:
        if model_key is None:
            rows = con.execute(f"SELECT * FROM {JOBS} ORDER BY updated_at DESC").fetchall()
        else:
            sql = f"SELECT * FROM {JOBS} WHERE model_key = ? ORDER BY updated_at DESC"
            rows = con.execute(sql, (model_key,)).fetchall()
    return [_job_dict(r) for r in rows]


def job_row(store, job: str) -> dict[str, Any] | None:
    """The row of ``job`` as a dict (``layers`` decoded), or None."""
    ensure_tables(store)
    with store.connect() as con:
        row = con.execute(f"SELECT * FROM {JOBS} WHERE job = ?", (job,)).fetchone()
    return None if row is None else _job_dict(row)


def example_rows(store, job: str, layer: int, neuron: int) -> list[dict[str, Any]]:
    """A neuron's stored examples, best first (one indexed query), each with its window's
    decoded ``pieces`` and the job's ``joiner``."""
    ensure_tables(store)
    sql = (
        f"SELECT e.example_rank, e.activation, e.window_index, e.position, e.token, "
        f"e.next_token, w.pieces, j.joiner, e.next_piece FROM {EXAMPLES} e "
        f"JOIN {WINDOWS} w ON w.job = e.job AND w.window_index = e.window_index "
        f"JOIN {JOBS} j ON j.job = e.job "
        "WHERE e.job = ? AND e.layer = ? AND e.neuron = ? ORDER BY e.example_rank"
    )
    with store.connect() as con:
        rows = con.execute(sql, (job, layer, neuron)).fetchall()
    names = ("rank", "activation", "window", "position", "token_id", "next_token_id")
    out = []
    for r in rows:
        item = dict(zip(names, tuple(r)[:6]))
        item.update(pieces=json.loads(r[6]), joiner=r[7], next_piece=r[8])
        out.append(item)
    return out


def _example_matrix(store, job: str) -> np.ndarray:
    """float64 [rows, 8]: layer, neuron, rank, activation, window, position, token, next."""
    with store.connect() as con:
        rows = con.execute(
            f"SELECT layer, neuron, example_rank, activation, window_index, position, token, "
            f"next_token FROM {EXAMPLES} WHERE job = ?",
            (job,),
        ).fetchall()
    if not rows:
        return np.zeros((0, 8), dtype=np.float64)
    return np.asarray([tuple(r) for r in rows], dtype=np.float64)


def top_k_arrays(
    store, job: str, layers: Sequence[int], d_mlp: int, k: int
) -> dict[str, np.ndarray]:
    """The stored examples of ``job`` as arrays [len(layers), d_mlp, k] named
    :data:`ARRAY_NAMES` (float32 activation, int64 others); missing entries are -inf / -1."""
    ensure_tables(store)
    a = _example_matrix(store, job)
    shape = (len(layers), d_mlp, k)
    out: dict[str, np.ndarray] = {"activation": np.full(shape, -np.inf, dtype=np.float32)}
    out.update({name: np.full(shape, -1, dtype=np.int64) for name in ARRAY_NAMES[1:]})
    if len(a):
        slot = np.searchsorted(np.asarray(layers), a[:, 0].astype(np.int64))
        where = (slot, a[:, 1].astype(np.int64), a[:, 2].astype(np.int64))
        out["activation"][where] = a[:, 3].astype(np.float32)
        for col, name in zip(range(4, 8), ARRAY_NAMES[1:]):
            out[name][where] = a[:, col].astype(np.int64)
    return out


def checkpoint_arrays(store, job: str) -> dict[str, np.ndarray]:
    """Every stored example row of ``job`` (any order), for resuming a running top-k:
    int64 ``layer``, ``neuron``, ``rank``, ``window_index``, ``position`` and float32
    ``activation`` (exactly the float32 that was stored), all [rows]."""
    ensure_tables(store)
    a = _example_matrix(store, job)
    ints = a[:, [0, 1, 2, 4, 5]].astype(np.int64)
    names = ("layer", "neuron", "rank", "window_index", "position")
    out = {name: ints[:, i] for i, name in enumerate(names)}
    out["activation"] = a[:, 3].astype(np.float32)
    return out


def start_job(store, job: str, values: dict[str, Any], state: Any) -> None:
    """Start ``job`` afresh in one transaction: remove leftovers of a job never checkpointed,
    insert its row (``values``: :data:`JOB_COLUMNS` but ``job`` and the time stamps; ``layers``
    as a list) and its first checkpoint ``state``."""
    row = {**values, "job": job, "layers": json.dumps(list(values["layers"]))}
    row["created_at"] = row["updated_at"] = now()
    with store.transaction() as con:
        for table in (EXAMPLES, WINDOWS, SHARDS, JOBS):
            con.execute(f"DELETE FROM {table} WHERE job = ?", (job,))
        con.execute(
            f"INSERT INTO {JOBS} VALUES ({', '.join('?' * len(JOB_COLUMNS))})",
            [row[c] for c in JOB_COLUMNS],
        )
        store.set_checkpoint(job, state, con)


def stored_windows(store, job: str) -> set[int]:
    """Indices of the windows of ``job`` already in ``ffn_windows``."""
    with store.connect() as con:
        rows = con.execute(f"SELECT window_index FROM {WINDOWS} WHERE job = ?", (job,))
        return {r[0] for r in rows}


def finished_shards(store, job: str) -> dict[int, dict[str, Any]]:
    """Shards of ``job`` already merged into its examples: shard -> its row."""
    ensure_tables(store)
    with store.connect() as con:
        rows = con.execute(f"SELECT * FROM {SHARDS} WHERE job = ? ORDER BY shard", (job,))
        return {r["shard"]: dict(r) for r in rows}


def write_checkpoint(
    store,
    job: str,
    *,
    replaced: Iterable[tuple[int, int]],
    example_rows: Sequence[tuple],
    window_rows: Sequence[tuple],
    state: Any,
    done: bool,
    tokens_per_s: float,
    shards: Sequence[dict[str, Any]] = (),
) -> None:
    """One transaction: the examples of the ``replaced`` (layer, neuron) pairs are replaced
    by ``example_rows`` (:data:`EXAMPLES_SQL` order, job first), ``window_rows`` (job, window,
    tokens JSON, pieces JSON) are added, ``shards`` (dicts of :data:`SHARDS_SQL` columns but
    job and time) are recorded as finished, the job's status and throughput updated and its
    checkpoint set to ``state``. When ``done``, windows no example refers to are dropped."""
    shard_rows = [
        (job, s["shard"], s["first_batch"], s["stop_batch"], s["n_tokens"], s["seconds"],
         s["worker"], now())
        for s in shards
    ]  # fmt: skip
    with store.transaction() as con:
        con.executemany(
            f"DELETE FROM {EXAMPLES} WHERE job = ? AND layer = ? AND neuron = ?",
            [(job, int(layer), int(neuron)) for layer, neuron in replaced],
        )
        con.executemany(f"INSERT INTO {EXAMPLES} VALUES ({', '.join('?' * 10)})", example_rows)
        con.executemany(f"INSERT INTO {WINDOWS} VALUES (?, ?, ?, ?)", window_rows)
        con.executemany(f"INSERT INTO {SHARDS} VALUES ({', '.join('?' * 8)})", shard_rows)
        if done:  # drop windows no example refers to any more
            con.execute(
                f"DELETE FROM {WINDOWS} WHERE job = ? AND window_index NOT IN "
                f"(SELECT window_index FROM {EXAMPLES} WHERE job = ?)",
                (job, job),
            )
        con.execute(
            f"UPDATE {JOBS} SET status = ?, updated_at = ?, tokens_per_s = ? WHERE job = ?",
            ("complete" if done else "running", now(), tokens_per_s, job),
        )
        store.set_checkpoint(job, state, con)
