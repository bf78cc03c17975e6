"""Mine every FFN neuron's top trigger examples from a text corpus (Geva et al. 2021).

Geva et al. 2021 find what a key detects by running the model over a corpus and keeping,
for each neuron, the prefixes (text ending at a token) on which its activation is highest:
its *trigger examples*. LM-Debugger (Geva et al. 2022) shows them beside the value's top
tokens. This module does it for every neuron of the chosen layers in one streaming pass:

* the corpus is cut into windows by :mod:`interp.core.corpus` and streamed in batches of
  ``batch_size`` windows, in a fixed order;
* only ``blocks.{l}.mlp.hook_post`` is hooked (and the forward stops after the last mined
  layer); each hook takes ``torch.topk`` over the batch's positions **on the device**, and
  after the forward the batch is merged into a running top-k per neuron by a sort over
  (running top-k U batch top-k), with one host synchronisation per batch, so the per-batch
  cost is a fraction of the forward pass (``benchmarks/mining_throughput.py``);
* ties are broken exactly (higher activation first, then earlier in the corpus), so the
  result is the one a brute-force scan of every activation finds, whatever the batching;
* every ``checkpoint_every`` batches, the neurons whose top-k changed are rewritten in the
  results store's database, in the same transaction as the job's checkpoint (the next batch
  to run); a run stopped at any point (Ctrl-C, kill) resumes from the last checkpoint and
  ends with exactly the result of an uninterrupted run;
* a neuron's examples are one indexed query away (:func:`examples`): table
  ``ffn_examples`` (job, layer, neuron, rank, activation, window, position, token, next
  token) joined with ``ffn_windows`` (the window's token ids and decoded pieces, for
  highlighting the trigger); jobs are listed in ``ffn_mining_jobs``.

A job is identified by the model (name, location, weight processing), the corpus
fingerprint, the window length, k, the batch size, the layers and the token limit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, ClassVar

import numpy as np

from interp.core.errors import InterpError
from interp.results.base import Result

JOBS, EXAMPLES, WINDOWS = "ffn_mining_jobs", "ffn_examples", "ffn_windows"
_JOBS_SQL = (
    "job TEXT PRIMARY KEY, model TEXT, model_key TEXT, corpus TEXT, fingerprint TEXT, "
    "window INTEGER, k INTEGER, batch_size INTEGER, layers TEXT, d_mlp INTEGER, "
    "max_tokens INTEGER, n_tokens INTEGER, n_windows INTEGER, joiner TEXT, status TEXT, "
    "tokens_per_s REAL, created_at TEXT, updated_at TEXT"
)
_EXAMPLES_SQL = (
    "job TEXT, layer INTEGER, neuron INTEGER, example_rank INTEGER, activation REAL, "
    "window_index INTEGER, position INTEGER, token INTEGER, next_token INTEGER, next_piece TEXT"
)
_WINDOWS_SQL = "job TEXT, window_index INTEGER, tokens TEXT, pieces TEXT"
#: bump when what a job computes changes, so old jobs are not resumed
MINING_VERSION = 1


@dataclasses.dataclass(frozen=True)
class TriggerExample:
    """One of a neuron's top prefixes: ``context`` then the trigger token ``token``."""

    rank: int
    activation: float
    window: int
    position: int
    token_id: int
    next_token_id: int  # -1 at the end of the corpus
    pieces: list[str]  # decoded tokens of the window, BOS first
    joiner: str  # "" for byte-level BPE, " " for word-level vocabularies
    next_piece: str | None = None  # the decoded next token (it may lie in the next window)

    @property
    def token(self) -> str:
        return self.pieces[self.position]

    @property
    def next_token(self) -> str | None:
        return self.next_piece if self.next_token_id >= 0 else None

    @property
    def context(self) -> str:
        return self.joiner.join(self.pieces[1 : self.position])

    @property
    def text(self) -> str:
        """The prefix ending at the trigger token."""
        return self.joiner.join(self.pieces[1 : self.position + 1])


@dataclasses.dataclass(frozen=True)
class MiningResult(Result):
    """Top-k trigger examples of every neuron of ``layers`` (rank 0 = highest activation);
    missing entries (fewer than k eligible positions) have activation -inf and window -1."""

    kind: ClassVar[str] = "ffn_mining"

    job: str
    model: str
    corpus: str
    fingerprint: str
    layers: list[int]
    k: int
    window: int
    batch_size: int
    n_tokens: int
    n_windows: int
    tokens_per_s: float
    activation: np.ndarray  # float32 [layer, d_mlp, k]
    window_index: np.ndarray  # int64 [layer, d_mlp, k]
    position: np.ndarray  # int64 [layer, d_mlp, k]
    token: np.ndarray  # int64 [layer, d_mlp, k]: the trigger token
    next_token: np.ndarray  # int64 [layer, d_mlp, k]: the token after it (-1: none)

    def figure(self, layer: int | None = None):
        from interp.figures.ffn import mining_figure

        return mining_figure(self, layer)


# -- the running top-k --------------------------------------------------------------------
class RunningTopK:
    """Per-neuron top-k of activations over a stream, ordered by (activation desc, global
    index asc); ``values`` / ``index`` are [slots, d_mlp, k] tensors on the device.

    Each hook calls :meth:`add` (a transposed copy, ``topk(k + 1)`` along positions: no host
    synchronisation, so GPU work stays queued); after the forward pass :meth:`commit` checks
    every layer for a tie at the k-th place at once (one synchronisation per batch), resolves
    those rows with a stable sort (earliest position first) and merges into the running
    top-k. The queued copies hold one batch's ``hook_post`` of the mined layers, as caching
    them would.
    """

    def __init__(self, n_slots: int, d_mlp: int, k: int, device) -> None:
        import torch

        self.k = k
        self.values = torch.full((n_slots, d_mlp, k), float("-inf"), device=device)
        self.index = torch.full((n_slots, d_mlp, k), -1, dtype=torch.int64, device=device)
        self._pending: list[tuple] = []

    def add(self, slot: int, acts, eligible) -> None:
        """Queue ``acts`` [batch, pos, d_mlp] of layer slot ``slot``; positions where
        ``eligible`` [batch, pos] is False are never chosen."""
        flat = acts.reshape(-1, acts.shape[-1])  # [P, d_mlp], a view of the activation
        rows = flat.T.float().contiguous()  # [d_mlp, P]: topk along contiguous memory
        if rows.data_ptr() == flat.data_ptr():  # already that layout: never write the model's
            rows = rows.clone()
        rows.masked_fill_(~eligible.reshape(1, -1), float("-inf"))
        kk = min(self.k, rows.shape[1])
        if rows.shape[1] > kk:  # the (k+1)-th equal to the k-th: a tie across the cut
            vals, pos = rows.topk(kk + 1, dim=1)
            tied = vals[:, kk] == vals[:, kk - 1]
            vals, pos = vals[:, :kk], pos[:, :kk]
        else:
            (vals, pos), tied = rows.topk(kk, dim=1), None
        self._pending.append((slot, rows, vals, pos, tied))

    def commit(self, base: int) -> None:
        """Merge the queued layers; flat position p of the batch has global index base + p."""
        import torch

        pending, self._pending = self._pending, []
        if not pending:
            return
        flags = [p[4].any() for p in pending if p[4] is not None]
        any_tied = iter(torch.stack(flags).tolist() if flags else [])
        for slot, rows, vals, pos, tied in pending:
            if tied is not None and next(any_tied):
                # ties at the cut: take the earliest positions among the equal values
                which = tied.nonzero().squeeze(1)
                order = torch.sort(rows[which], dim=1, descending=True, stable=True)
                vals[which] = order.values[:, : vals.shape[1]]
                pos[which] = order.indices[:, : vals.shape[1]]
            cand_v = torch.cat([self.values[slot], vals], dim=1)  # [d_mlp, k + kk]
            cand_i = torch.cat([self.index[slot], pos + base], dim=1)
            by_index = cand_i.argsort(dim=1)
            cand_v, cand_i = cand_v.gather(1, by_index), cand_i.gather(1, by_index)
            best = torch.sort(cand_v, dim=1, descending=True, stable=True).indices[:, : self.k]
            self.values[slot] = cand_v.gather(1, best)
            self.index[slot] = cand_i.gather(1, best)

    def update(self, slot: int, acts, base: int, eligible) -> None:
        """:meth:`add` and :meth:`commit` for a single layer."""
        self.add(slot, acts, eligible)
        self.commit(base)


# -- jobs, tables, queries ----------------------------------------------------------------
def ensure_tables(store) -> None:
    store.ensure_table(JOBS, _JOBS_SQL, indexes=["model_key, status"])
    store.ensure_table(EXAMPLES, _EXAMPLES_SQL, indexes=["job, layer, neuron"])
    store.ensure_table(WINDOWS, _WINDOWS_SQL, indexes=["job, window_index"])


def job_key(model_key: str, fingerprint: str, window: int, k: int, batch_size: int,
            layers: list[int], max_tokens: int | None) -> str:  # fmt: skip
    ident = [model_key, fingerprint, window, k, batch_size, layers, max_tokens, MINING_VERSION]
    return "mine-" + hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def jobs(store, model=None) -> list[dict[str, Any]]:
    """Mining jobs in ``store`` (of ``model`` only, when given), newest first."""
    from interp.core.models import record_of
    from interp.methods.ffn import model_key

    if not store.db_path.exists():
        return []
    ensure_tables(store)
    with store.connect() as con:
        if model is None:
            rows = con.execute(f"SELECT * FROM {JOBS} ORDER BY updated_at DESC").fetchall()
        else:
            key = model_key(record_of(model))
            sql = f"SELECT * FROM {JOBS} WHERE model_key = ? ORDER BY updated_at DESC"
            rows = con.execute(sql, (key,)).fetchall()
    out = []
    for row in rows:
        item = dict(row)
        item["layers"] = json.loads(item["layers"])
        out.append(item)
    return out


def latest_job(store, model, layer: int | None = None) -> str | None:
    """The newest complete job of ``model`` that mined ``layer`` (any layer when None)."""
    for job in jobs(store, model):
        if job["status"] == "complete" and (layer is None or layer in job["layers"]):
            return job["job"]
    return None


def examples(store, job: str, layer: int, neuron: int) -> list[TriggerExample]:
    """A neuron's stored trigger examples, best first (one indexed query)."""
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
    return [
        TriggerExample(
            rank=r[0],
            activation=r[1],
            window=r[2],
            position=r[3],
            token_id=r[4],
            next_token_id=r[5],
            pieces=json.loads(r[6]),
            joiner=r[7],
            next_piece=r[8],
        )
        for r in rows
    ]


def load_job(store, job: str) -> MiningResult:
    """Rebuild a job's :class:`MiningResult` from the tables."""
    ensure_tables(store)
    with store.connect() as con:
        meta = con.execute(f"SELECT * FROM {JOBS} WHERE job = ?", (job,)).fetchone()
        if meta is None:
            raise InterpError(f"no mining job {job!r} in the results store {store.root}.")
        rows = con.execute(
            f"SELECT layer, neuron, example_rank, activation, window_index, position, token, "
            f"next_token FROM {EXAMPLES} WHERE job = ?",
            (job,),
        ).fetchall()
    layers, k = json.loads(meta["layers"]), meta["k"]
    shape = (len(layers), meta["d_mlp"], k)
    act = np.full(shape, -np.inf, dtype=np.float32)
    ints = {name: np.full(shape, -1, dtype=np.int64) for name in ("w", "p", "t", "n")}
    if rows:
        a = np.asarray([tuple(r) for r in rows], dtype=np.float64)
        slot = np.searchsorted(np.asarray(layers), a[:, 0].astype(np.int64))
        where = (slot, a[:, 1].astype(np.int64), a[:, 2].astype(np.int64))
        act[where] = a[:, 3].astype(np.float32)
        for col, name in zip(range(4, 8), ("w", "p", "t", "n")):
            ints[name][where] = a[:, col].astype(np.int64)
    return MiningResult(
        job=job,
        model=meta["model"],
        corpus=meta["corpus"],
        fingerprint=meta["fingerprint"],
        layers=layers,
        k=k,
        window=meta["window"],
        batch_size=meta["batch_size"],
        n_tokens=meta["n_tokens"],
        n_windows=meta["n_windows"],
        tokens_per_s=float(meta["tokens_per_s"] or 0.0),
        activation=act,
        window_index=ints["w"],
        position=ints["p"],
        token=ints["t"],
        next_token=ints["n"],
    )


def _joiner(tokenizer) -> str:
    """ "" if decoding two tokens equals joining their single decodings (byte-level BPE)."""
    ids = tokenizer(" the of", add_special_tokens=False)["input_ids"]
    if len(ids) < 2:
        return ""
    a, b = ids[:2]
    return "" if tokenizer.decode([a, b]) == tokenizer.decode([a]) + tokenizer.decode([b]) else " "


# -- mining -------------------------------------------------------------------------------
def mine(
    model,
    corpus=None,
    *,
    layers: list[int] | None = None,
    k: int = 10,
    window: int = 32,
    batch_size: int = 32,
    max_tokens: int | None = None,
    store=None,
    checkpoint_every: int = 20,
    show_progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
) -> MiningResult:
    """Top-``k`` trigger examples of every neuron of ``layers`` (all when None) over the
    corpus at ``corpus`` (a text file or directory; the default corpus when None).

    Resumes the job from its last checkpoint if it was interrupted; returns the stored
    result at once if it is complete. ``on_batch(done, total)`` is called after each batch.
    """
    import torch

    from interp.core.corpus import windows as make_windows
    from interp.core.hooks import mlp_name
    from interp.core.models import record_of
    from interp.core.progress import progress
    from interp.methods.ffn import _check_layers, model_key
    from interp.results.store import ResultsStore

    if k < 1:
        raise InterpError(f"k must be at least 1; got {k}.")
    if batch_size < 1 or checkpoint_every < 1:
        raise InterpError("batch_size and checkpoint_every must be at least 1.")
    if window > model.cfg.n_ctx:
        raise InterpError(f"window {window} exceeds the model's context of {model.cfg.n_ctx}.")
    record = record_of(model)
    layers = _check_layers(model, layers)
    store = store if store is not None else ResultsStore()
    ensure_tables(store)
    tw = make_windows(model.tokenizer, corpus, window=window, max_tokens=max_tokens)
    key = model_key(record)
    job = job_key(key, tw.fingerprint, window, k, batch_size, layers, max_tokens)
    d_mlp = model.cfg.d_mlp
    batches = tw.batches(batch_size)
    state = store.checkpoint(job)
    if state is not None and state.get("done"):
        return load_job(store, job)

    device = model.cfg.device
    top = RunningTopK(len(layers), d_mlp, k, device)
    saved = top.index.clone()
    start_batch = 0
    if state is None:
        with store.transaction() as con:
            for table in (EXAMPLES, WINDOWS, JOBS):  # leftovers of a job never checkpointed
                con.execute(f"DELETE FROM {table} WHERE job = ?", (job,))
            now = _now()
            con.execute(
                f"INSERT INTO {JOBS} VALUES ({', '.join('?' * 18)})",
                (job, record.name, key, tw.path, tw.fingerprint, window, k, batch_size,
                 json.dumps(layers), d_mlp, max_tokens, tw.n_tokens, tw.n_windows,
                 _joiner(model.tokenizer), "running", None, now, now),
            )  # fmt: skip
            store.set_checkpoint(job, {"next_batch": 0, "done": False}, con)
    else:
        start_batch = int(state["next_batch"])
        _restore(store, job, layers, window, top)
        saved = top.index.clone()
    with store.connect() as con:
        stored_windows = {
            r[0] for r in con.execute(f"SELECT window_index FROM {WINDOWS} WHERE job = ?", (job,))
        }
    writer = _Writer(store, job, layers, tw, model.tokenizer, stored_windows)

    current: dict[str, Any] = {}

    def make_hook(slot: int):
        def hook(activation, hook):  # activation: [batch, pos, d_mlp]
            top.add(slot, activation, current["mask"])

        return hook

    fwd_hooks = [(mlp_name(layer, "post"), make_hook(s)) for s, layer in enumerate(layers)]
    stop = max(layers) + 1 if max(layers) + 1 < model.cfg.n_layers else None
    bar = progress(
        total=len(batches), initial=start_batch, unit="batch", desc="mining",
        disable=None if show_progress else True,
    )  # fmt: skip
    t0, n_done_tokens = time.perf_counter(), 0
    try:
        with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks):
            for b in range(start_batch, len(batches)):
                lo, hi = batches[b]
                tokens, mask = tw.batch(lo, hi, device)
                current["mask"] = mask
                model(tokens, stop_at_layer=stop) if stop else model(tokens, return_type=None)
                top.commit(lo * window)
                n_done_tokens += int(tw.lengths[lo:hi].sum())
                last = b + 1 == len(batches)
                if last or (b + 1 - start_batch) % checkpoint_every == 0:
                    rate = n_done_tokens / max(time.perf_counter() - t0, 1e-9)
                    writer.write(top, saved, b + 1, done=last, tokens_per_s=rate)
                    saved = top.index.clone()
                bar.update(1)
                if on_batch is not None:
                    on_batch(b + 1, len(batches))
    finally:
        bar.close()
    if not batches:  # an empty corpus slice: nothing to mine, but the job is complete
        writer.write(top, saved, 0, done=True, tokens_per_s=0.0)
    return load_job(store, job)


def _restore(store, job: str, layers: list[int], window: int, top: RunningTopK) -> None:
    """Load a job's checkpointed rows back into the running top-k, slot for slot."""
    import torch

    with store.connect() as con:
        rows = con.execute(
            f"SELECT layer, neuron, example_rank, activation, window_index, position "
            f"FROM {EXAMPLES} WHERE job = ?",
            (job,),
        ).fetchall()
    if not rows:
        return
    a = np.asarray([tuple(r) for r in rows], dtype=np.float64)
    ints = a[:, [0, 1, 2, 4, 5]].astype(np.int64)
    slot = torch.from_numpy(np.searchsorted(np.asarray(layers), ints[:, 0]))
    neuron, rank = torch.from_numpy(ints[:, 1]), torch.from_numpy(ints[:, 2])
    gidx = torch.from_numpy(ints[:, 3] * window + ints[:, 4])
    values = torch.from_numpy(a[:, 3].astype(np.float32))
    top.values[slot, neuron, rank] = values.to(top.values.device)
    top.index[slot, neuron, rank] = gidx.to(top.index.device)


class _Writer:
    """Writes changed neurons' rows, new windows and the checkpoint in one transaction."""

    def __init__(self, store, job, layers, tw, tokenizer, stored_windows: set[int]) -> None:
        self.store, self.job, self.layers, self.tw = store, job, layers, tw
        self.tokenizer = tokenizer
        self.stored_windows = stored_windows
        self._pieces: list[str] | None = None
        self._next = None

    def pieces(self, ids) -> list[str]:
        if self._pieces is None:
            n = max(len(self.tokenizer), int(self.tw.tokens.max()) + 1)
            self._pieces = [self.tokenizer.decode([i]) for i in range(n)]
        return [self._pieces[int(i)] for i in ids]

    def write(
        self, top: RunningTopK, saved, next_batch: int, done: bool, tokens_per_s: float
    ) -> None:
        index = top.index.cpu().numpy()
        values = top.values.cpu().numpy()
        changed = np.argwhere((index != saved.cpu().numpy()).any(axis=-1))  # [(slot, neuron)]
        w = self.tw.window
        if self._next is None:
            self._next = self.tw.next_tokens()
        rows, wanted = [], set()
        pieces = self.pieces
        for slot, neuron in changed:
            for rank in range(index.shape[-1]):
                g = int(index[slot, neuron, rank])
                if g < 0 or not np.isfinite(values[slot, neuron, rank]):
                    continue
                win, pos = divmod(g, w)
                nxt = int(self._next[win, pos])
                rows.append((
                    self.job, self.layers[slot], int(neuron), rank,
                    float(values[slot, neuron, rank]), win, pos, int(self.tw.tokens[win, pos]),
                    nxt, pieces([nxt])[0] if nxt >= 0 else None,
                ))  # fmt: skip
                wanted.add(win)
        new_windows = sorted(wanted - self.stored_windows)
        window_rows = [
            (self.job, win, json.dumps(ids.tolist()), json.dumps(self.pieces(ids)))
            for win in new_windows
            for ids in [self.tw.tokens[win, : self.tw.lengths[win]]]
        ]
        with self.store.transaction() as con:
            con.executemany(
                f"DELETE FROM {EXAMPLES} WHERE job = ? AND layer = ? AND neuron = ?",
                [(self.job, self.layers[s], int(n)) for s, n in changed],
            )
            con.executemany(f"INSERT INTO {EXAMPLES} VALUES ({', '.join('?' * 10)})", rows)
            con.executemany(f"INSERT INTO {WINDOWS} VALUES (?, ?, ?, ?)", window_rows)
            if done:  # drop windows no example refers to any more
                con.execute(
                    f"DELETE FROM {WINDOWS} WHERE job = ? AND window_index NOT IN "
                    f"(SELECT window_index FROM {EXAMPLES} WHERE job = ?)",
                    (self.job, self.job),
                )
            con.execute(
                f"UPDATE {JOBS} SET status = ?, updated_at = ?, tokens_per_s = ? WHERE job = ?",
                ("complete" if done else "running", _now(), tokens_per_s, self.job),
            )
            state = {"next_batch": next_batch, "done": done}
            self.store.set_checkpoint(self.job, state, con)
        self.stored_windows.update(new_windows)
