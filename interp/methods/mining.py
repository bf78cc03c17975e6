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
  highlighting the trigger); jobs are listed in ``ffn_mining_jobs``. The tables and their
  SQL live in :mod:`interp.results.mining_tables`;
* the same job can be **sharded** (:func:`mine_sharded`): the batches are cut into shards of
  consecutive batches, each shard's top-k is computed on its own (:func:`mine_shard`, by the
  same streaming code, e.g. on the Ray workers of :mod:`interp.scale.mining`) and merged into
  the job's running top-k by the same exact merge; merged shards are recorded with the
  examples, so a restarted driver skips them, and the result equals the single-process one.

A job is identified by the model (name, location, weight processing), the corpus
fingerprint, the window length, k, the batch size, the layers and the token limit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from interp.core.corpus import TokenWindows
from interp.core.errors import InterpError
from interp.results import mining_tables as tables
from interp.results.base import Result
from interp.results.mining_tables import EXAMPLES, JOBS, SHARDS, WINDOWS, ensure_tables

if TYPE_CHECKING:
    from interp.core.models import Model


__all__ = [
    "EXAMPLES", "JOBS", "MINING_VERSION", "SHARDS", "WINDOWS", "MiningResult", "RunningTopK",
    "Shard", "ShardTask", "ShardTopK", "TriggerExample", "ensure_tables", "examples",
    "job_key", "jobs", "latest_job", "load_job", "mine", "mine_shard", "mine_sharded",
]  # fmt: skip

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
            self._merge(slot, vals, pos + base)

    def merge(self, values, index) -> None:
        """Merge another top-k of every slot, ``values`` / ``index`` [slots, d_mlp, k'] (e.g. a
        shard's, from :func:`mine_shard`), over positions this one has not seen."""
        device = self.values.device
        self._merge(slice(None), values.to(device), index.to(device))

    def _merge(self, slot, vals, idx) -> None:
        """Keep the best k of (running top-k U candidates) by (activation desc, index asc):
        sorting by index first makes the stable sort by activation break ties exactly."""
        import torch

        cand_v = torch.cat([self.values[slot], vals], dim=-1)  # [..., d_mlp, k + kk]
        cand_i = torch.cat([self.index[slot], idx], dim=-1)
        by_index = cand_i.argsort(dim=-1)
        cand_v, cand_i = cand_v.gather(-1, by_index), cand_i.gather(-1, by_index)
        best = torch.sort(cand_v, dim=-1, descending=True, stable=True).indices[..., : self.k]
        self.values[slot] = cand_v.gather(-1, best)
        self.index[slot] = cand_i.gather(-1, best)

    def update(self, slot: int, acts, base: int, eligible) -> None:
        """:meth:`add` and :meth:`commit` for a single layer."""
        self.add(slot, acts, eligible)
        self.commit(base)


# -- jobs and queries (the tables are in interp.results.mining_tables) ---------------------
def job_key(model_key: str, fingerprint: str, window: int, k: int, batch_size: int,
            layers: list[int], max_tokens: int | None) -> str:  # fmt: skip
    ident = [model_key, fingerprint, window, k, batch_size, layers, max_tokens, MINING_VERSION]
    return "mine-" + hashlib.sha256(json.dumps(ident).encode()).hexdigest()[:16]


def jobs(store, model=None) -> list[dict[str, Any]]:
    """Mining jobs in ``store`` (of ``model`` only, when given), newest first."""
    from interp.core.models import record_of
    from interp.methods.ffn import model_key

    key = None if model is None else model_key(record_of(model))
    return tables.job_rows(store, key)


def latest_job(store, model: Model, layer: int | None = None) -> str | None:
    """The newest complete job of ``model`` that mined ``layer`` (any layer when None)."""
    for job in jobs(store, model):
        if job["status"] == "complete" and (layer is None or layer in job["layers"]):
            return job["job"]
    return None


def examples(store, job: str, layer: int, neuron: int) -> list[TriggerExample]:
    """A neuron's stored trigger examples, best first (one indexed query)."""
    return [TriggerExample(**row) for row in tables.example_rows(store, job, layer, neuron)]


def load_job(store, job: str) -> MiningResult:
    """Rebuild a job's :class:`MiningResult` from the tables."""
    meta = tables.job_row(store, job)
    if meta is None:
        raise InterpError(f"no mining job {job!r} in the results store {store.root}.")
    layers, k = meta["layers"], meta["k"]
    arrays = tables.top_k_arrays(store, job, layers, meta["d_mlp"], k)
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
        **arrays,
    )


def _joiner(tokenizer) -> str:
    """ "" if decoding two tokens equals joining their single decodings (byte-level BPE)."""
    ids = tokenizer(" the of", add_special_tokens=False)["input_ids"]
    if len(ids) < 2:
        return ""
    a, b = ids[:2]
    return "" if tokenizer.decode([a, b]) == tokenizer.decode([a]) + tokenizer.decode([b]) else " "


# -- mining -------------------------------------------------------------------------------
@dataclasses.dataclass
class _Job:
    """A mining job's identity and inputs, as :func:`mine` and :func:`mine_sharded` share."""

    model: Any
    store: Any
    record: Any
    key: str
    job: str
    layers: list[int]
    k: int
    window: int
    batch_size: int
    max_tokens: int | None
    tw: TokenWindows
    batches: list[tuple[int, int]]

    @property
    def d_mlp(self) -> int:
        return int(self.model.cfg.d_mlp)

    def start(self, state: dict[str, Any]) -> None:
        """Insert the job's row (removing leftovers) with its first checkpoint."""
        tw = self.tw
        values = dict(
            model=self.record.name, model_key=self.key, corpus=tw.path,
            fingerprint=tw.fingerprint, window=self.window, k=self.k,
            batch_size=self.batch_size, layers=self.layers, d_mlp=self.d_mlp,
            max_tokens=self.max_tokens, n_tokens=tw.n_tokens, n_windows=tw.n_windows,
            joiner=_joiner(self.model.tokenizer), status="running", tokens_per_s=None,
        )  # fmt: skip
        tables.start_job(self.store, self.job, values, state)

    def writer(self) -> _Writer:
        stored = tables.stored_windows(self.store, self.job)
        return _Writer(self.store, self.job, self.layers, self.tw, self.model.tokenizer, stored)


def _prepare(model: Model, corpus, layers, k, window, batch_size, max_tokens, store,
             checkpoint_every) -> _Job:  # fmt: skip
    from interp.core.corpus import windows as make_windows
    from interp.core.models import record_of
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
    return _Job(model, store, record, key, job, layers, k, window, batch_size, max_tokens, tw,
                tw.batches(batch_size))  # fmt: skip


def _stream(
    model: Model,
    tw: TokenWindows,
    layers: list[int],
    top: RunningTopK,
    batches: Sequence[tuple[int, int]],
    first_window: int = 0,
) -> Generator[int, None, None]:
    """Run each batch (a window range of ``tw``) through ``model`` with the hooks and merge it
    into ``top``; window w of ``tw`` is window ``first_window + w`` of the corpus. Yields the
    batch's real tokens after each merge. Close it (``contextlib.closing``) when stopping
    early: the hooks stay on the model until then."""
    import torch

    from interp.core.hooks import mlp_name

    current: dict[str, Any] = {}

    def make_hook(slot: int):
        def hook(activation, hook):  # activation: [batch, pos, d_mlp]
            top.add(slot, activation, current["mask"])

        return hook

    fwd_hooks = [(mlp_name(layer, "post"), make_hook(s)) for s, layer in enumerate(layers)]
    stop = max(layers) + 1 if max(layers) + 1 < model.cfg.n_layers else None
    device = model.cfg.device
    with torch.no_grad(), model.hooks(fwd_hooks=fwd_hooks):
        for lo, hi in batches:
            tokens, mask = tw.batch(lo, hi, device)
            current["mask"] = mask
            model(tokens, stop_at_layer=stop) if stop else model(tokens, return_type=None)
            top.commit((first_window + lo) * tw.window)
            yield int(tw.lengths[lo:hi].sum())


def mine(
    model: Model,
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

    Resumes the job from its last checkpoint if it was interrupted (a sharded job stopped
    part-way, see :func:`mine_sharded`, is finished here shard by shard); returns the stored
    result at once if it is complete. ``on_batch(done, total)`` is called after each batch.

    Example::

        >>> from interp.core.models import load
        >>> from interp.core.trained import locate
        >>> corpus = locate("text") / "heldout.txt"  # English glosses shipped with trained:text
        >>> result = mine(load("reference:recall", device="cpu"), corpus, k=4)
        >>> result.activation.shape  # [layer, neuron, k], best first
        (8, 64, 4)
    """
    from interp.core.progress import progress

    ctx = _prepare(model, corpus, layers, k, window, batch_size, max_tokens, store,
                   checkpoint_every)  # fmt: skip
    store, job, batches, tw = ctx.store, ctx.job, ctx.batches, ctx.tw
    state = store.checkpoint(job)
    if state is not None and state.get("done"):
        return load_job(store, job)
    if state is not None and "shard_batches" in state:
        return _run_sharded(ctx, state, lambda tasks: (mine_shard(model, t) for t in tasks),
                            checkpoint_every, show_progress, None)  # fmt: skip

    top = RunningTopK(len(ctx.layers), ctx.d_mlp, k, model.cfg.device)
    start_batch = 0
    if state is None:
        ctx.start({"next_batch": 0, "done": False})
    else:
        start_batch = int(state["next_batch"])
        _restore(store, job, ctx.layers, window, top)
    saved = top.index.clone()
    writer = ctx.writer()
    bar = progress(
        total=len(batches), initial=start_batch, unit="batch", desc="mining",
        disable=None if show_progress else True,
    )  # fmt: skip
    t0, n_done_tokens = time.perf_counter(), 0
    steps = _stream(model, tw, ctx.layers, top, batches[start_batch:])
    try:
        with closing(steps):
            for b, n_tokens in enumerate(steps, start=start_batch):
                n_done_tokens += n_tokens
                last = b + 1 == len(batches)
                if last or (b + 1 - start_batch) % checkpoint_every == 0:
                    rate = n_done_tokens / max(time.perf_counter() - t0, 1e-9)
                    state = {"next_batch": b + 1, "done": last}
                    writer.write(top, saved, state, done=last, tokens_per_s=rate)
                    saved = top.index.clone()
                bar.update(1)
                if on_batch is not None:
                    on_batch(b + 1, len(batches))
    finally:
        bar.close()
    if not batches:  # an empty corpus slice: nothing to mine, but the job is complete
        writer.write(top, saved, {"next_batch": 0, "done": True}, done=True, tokens_per_s=0.0)
    return load_job(store, job)


# -- sharded mining (the mechanism behind `interp mine --workers N`) -----------------------
@dataclasses.dataclass(frozen=True)
class Shard:
    """Batches ``first_batch .. stop_batch - 1`` of a job (windows ``first_window ..``)."""

    index: int
    first_batch: int
    stop_batch: int
    first_window: int
    stop_window: int


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """What a worker needs to mine one shard: its windows only (the corpus stays with the
    driver), the layers, k and the job's batch size (the same batches as a single process,
    so the same activations), and the model's identity to check its own copy against."""

    shard: Shard
    windows: TokenWindows  # the shard's windows; ``stream`` left empty
    layers: list[int]
    k: int
    batch_size: int
    model: dict[str, Any]  # name, weight processing, n_layers, d_mlp of the driver's model


@dataclasses.dataclass(frozen=True)
class ShardTopK:
    """A shard's per-neuron top-k: ``values`` float32 and ``index`` int64 (corpus-global
    position ``window * window_len + position``), both [slot, d_mlp, k]."""

    shard: int
    values: np.ndarray
    index: np.ndarray
    n_tokens: int
    seconds: float
    worker: str  # "host:pid" of the process that mined it


def plan_shards(n_batches: int, batch_size: int, n_windows: int, start: int,
                shard_batches: int) -> list[Shard]:  # fmt: skip
    """Shards of ``shard_batches`` consecutive batches covering batches ``start ..``."""
    out = []
    for i, first in enumerate(range(start, n_batches, shard_batches)):
        stop = min(first + shard_batches, n_batches)
        out.append(Shard(i, first, stop, first * batch_size, min(stop * batch_size, n_windows)))
    return out


def _identity(model: Model) -> dict[str, Any]:
    from interp.core.models import record_of

    record = record_of(model)
    return {
        "name": record.name,
        "processing": record.weight_processing,
        "n_layers": record.n_layers,
        "d_mlp": record.d_mlp,
    }


def mine_shard(model: Model, task: ShardTask) -> ShardTopK:
    """One shard's per-neuron top-k, by the same streaming code as :func:`mine` (what each
    worker of :mod:`interp.scale.mining` runs).

    Example::

        >>> from interp.core.corpus import windows
        >>> from interp.core.models import load
        >>> from interp.core.trained import locate
        >>> model = load("reference:recall", device="cpu")
        >>> tw = windows(model.tokenizer, locate("text") / "heldout.txt", window=16)
        >>> shard = plan_shards(len(tw.batches(4)), 4, tw.n_windows, 0, 2)[0]
        >>> part = dataclasses.replace(tw, tokens=tw.tokens[:8], lengths=tw.lengths[:8])
        >>> mine_shard(model, ShardTask(shard, part, [2], 4, 4, _identity(model))).values.shape
        (1, 64, 4)
    """
    import torch

    mine_id = _identity(model)
    if mine_id != task.model:
        raise InterpError(
            f"this worker's model {mine_id} is not the driver's {task.model}: every worker "
            "must load the same model (same name, weights and weight processing)."
        )
    tw = task.windows
    if not tw.tokens.flags.writeable:  # e.g. read-only from Ray's object store
        tw = dataclasses.replace(tw, tokens=tw.tokens.copy(), lengths=tw.lengths.copy())
    top = RunningTopK(len(task.layers), task.model["d_mlp"], task.k, model.cfg.device)
    batches = tw.batches(task.batch_size)
    start, n_tokens = time.perf_counter(), 0
    with closing(_stream(model, tw, task.layers, top, batches, task.shard.first_window)) as steps:
        for n in steps:
            n_tokens += n
    if torch.device(str(model.cfg.device)).type == "cuda":
        torch.cuda.synchronize()
    return ShardTopK(
        shard=task.shard.index,
        values=top.values.cpu().numpy(),
        index=top.index.cpu().numpy(),
        n_tokens=n_tokens,
        seconds=time.perf_counter() - start,
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )


RunShards = Callable[[list[ShardTask]], Iterable[ShardTopK]]


def mine_sharded(
    model: Model,
    corpus=None,
    *,
    run_shards: RunShards | None = None,
    shard_batches: int | None = None,
    workers: int = 1,
    layers: list[int] | None = None,
    k: int = 10,
    window: int = 32,
    batch_size: int = 32,
    max_tokens: int | None = None,
    store=None,
    checkpoint_every: int = 20,
    show_progress: bool = True,
    on_shard: Callable[[int, int, ShardTopK], None] | None = None,
) -> MiningResult:
    """:func:`mine` with the batches cut into shards of ``shard_batches`` batches, each mined
    on its own by ``run_shards`` (given the shards' tasks, it yields their
    :class:`ShardTopK` in any order, e.g. from Ray workers; by default this process mines
    them one after the other) and merged here, exactly: the same job, the same stored rows
    as :func:`mine` (ties broken by corpus position).

    ``model`` gives the tokenizer, the shapes and the job's identity (the workers hold their
    own copies). Merged shards are recorded in the store with the examples they changed,
    at least every ``checkpoint_every`` batches; a restarted run skips them. A job that
    :func:`mine` left part-way is continued from its checkpoint, sharded. ``shard_batches``
    defaults to ``checkpoint_every`` (at most), with at least 4 shards per worker
    (``workers``); a job keeps the shard size it started with.
    ``on_shard(done, total, result)`` is called after each merged shard.

    Example::

        >>> from interp.core.models import load
        >>> from interp.core.trained import locate
        >>> model, corpus = load("reference:recall", device="cpu"), locate("text") / "heldout.txt"
        >>> result = mine_sharded(model, corpus, k=4, window=16, shard_batches=2)
        >>> result.job == mine(model, corpus, k=4, window=16).job  # the same job, the same rows
        True
    """
    ctx = _prepare(model, corpus, layers, k, window, batch_size, max_tokens, store,
                   checkpoint_every)  # fmt: skip
    if shard_batches is not None and shard_batches < 1:
        raise InterpError(f"shard_batches must be at least 1; got {shard_batches}.")
    state = ctx.store.checkpoint(ctx.job)
    if state is not None and state.get("done"):
        return load_job(ctx.store, ctx.job)
    if state is None or "shard_batches" not in state:
        start = 0 if state is None else int(state["next_batch"])
        if shard_batches is None:
            per_worker = -(-(len(ctx.batches) - start) // (4 * max(1, workers)))
            shard_batches = max(1, min(checkpoint_every, per_worker))
        new_state = {"next_batch": start, "done": False, "shard_batches": int(shard_batches)}
        if state is None:
            ctx.start(new_state)
        else:  # a single-process job stopped part-way: its batches before `start` are merged
            ctx.store.set_checkpoint(ctx.job, new_state)
        state = new_state
    if run_shards is None:
        run_shards = lambda tasks: (mine_shard(model, t) for t in tasks)  # noqa: E731
    return _run_sharded(ctx, state, run_shards, checkpoint_every, show_progress, on_shard)


def _run_sharded(
    ctx: _Job,
    state: dict[str, Any],
    run_shards: RunShards,
    checkpoint_every: int,
    show_progress: bool,
    on_shard: Callable[[int, int, ShardTopK], None] | None,
) -> MiningResult:
    """Merge the shards of a sharded job that are not recorded as finished."""
    import torch

    from interp.core.progress import progress

    store, job, tw = ctx.store, ctx.job, ctx.tw
    shards = plan_shards(len(ctx.batches), ctx.batch_size, tw.n_windows,
                         int(state["next_batch"]), int(state["shard_batches"]))  # fmt: skip
    finished = set(tables.finished_shards(store, job))
    todo = [s for s in shards if s.index not in finished]
    top = RunningTopK(len(ctx.layers), ctx.d_mlp, ctx.k, "cpu")
    _restore(store, job, ctx.layers, ctx.window, top)
    saved = top.index.clone()
    writer = ctx.writer()
    identity = _identity(ctx.model)
    empty = np.zeros(0, dtype=np.int64)
    tasks = [
        ShardTask(
            shard=s,
            windows=dataclasses.replace(
                tw,
                stream=empty,
                tokens=tw.tokens[s.first_window : s.stop_window],
                lengths=tw.lengths[s.first_window : s.stop_window],
            ),  # fmt: skip
            layers=ctx.layers,
            k=ctx.k,
            batch_size=ctx.batch_size,
            model=identity,
        )  # fmt: skip
        for s in todo
    ]
    by_index = {s.index: s for s in todo}
    bar = progress(
        total=len(shards), initial=len(shards) - len(todo), unit="shard", desc="mining",
        disable=None if show_progress else True,
    )  # fmt: skip
    n_done, merged, unwritten = len(shards) - len(todo), set(), 0
    pending: list[dict[str, Any]] = []
    t0, n_tokens = time.perf_counter(), 0
    try:
        results = run_shards(tasks) if tasks else iter(())
        try:
            for res in results:
                if res.shard in merged or res.shard not in by_index:
                    continue  # a duplicate (a retried task reporting twice): merged already
                top.merge(torch.tensor(res.values), torch.tensor(res.index))  # own copies
                merged.add(res.shard)
                s = by_index[res.shard]
                n_done, n_tokens = n_done + 1, n_tokens + res.n_tokens
                pending.append({"shard": s.index, "first_batch": s.first_batch,
                                "stop_batch": s.stop_batch, "n_tokens": res.n_tokens,
                                "seconds": res.seconds, "worker": res.worker})  # fmt: skip
                last, unwritten = n_done == len(shards), unwritten + s.stop_batch - s.first_batch
                if last or unwritten >= checkpoint_every:
                    rate = n_tokens / max(time.perf_counter() - t0, 1e-9)
                    writer.write(top, saved, {**state, "done": last}, done=last,
                                 tokens_per_s=rate, shards=pending)  # fmt: skip
                    saved, pending, unwritten = top.index.clone(), [], 0
                bar.update(1)
                if on_shard is not None:
                    on_shard(n_done, len(shards), res)
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
    finally:
        bar.close()
    if n_done < len(shards):
        missing = sorted(set(by_index) - merged)
        raise InterpError(f"mining job {job}: shards {missing[:10]} were never mined.")
    if not shards:  # nothing to mine (an empty corpus slice), but the job is complete
        writer.write(top, saved, {**state, "done": True}, done=True, tokens_per_s=0.0)
    return load_job(store, job)


def _restore(store, job: str, layers: list[int], window: int, top: RunningTopK) -> None:
    """Load a job's checkpointed rows back into the running top-k, slot for slot."""
    import torch

    rows = tables.checkpoint_arrays(store, job)
    if not len(rows["layer"]):
        return
    slot = torch.from_numpy(np.searchsorted(np.asarray(layers), rows["layer"]))
    neuron, rank = torch.from_numpy(rows["neuron"]), torch.from_numpy(rows["rank"])
    gidx = torch.from_numpy(rows["window_index"] * window + rows["position"])
    values = torch.from_numpy(rows["activation"])
    top.values[slot, neuron, rank] = values.to(top.values.device)
    top.index[slot, neuron, rank] = gidx.to(top.index.device)


class _Writer:
    """Builds the changed neurons' rows and the new windows, which
    :func:`interp.results.mining_tables.write_checkpoint` writes with the checkpoint."""

    def __init__(self, store, job, layers, tw, tokenizer, stored_windows: set[int]) -> None:
        self.store, self.job, self.layers, self.tw = store, job, layers, tw
        self.tokenizer = tokenizer
        self.stored_windows = stored_windows
        self._pieces: list[str] | None = None
        self._next: np.ndarray | None = None

    def pieces(self, ids) -> list[str]:
        if self._pieces is None:
            n = max(len(self.tokenizer), int(self.tw.tokens.max()) + 1)
            self._pieces = [self.tokenizer.decode([i]) for i in range(n)]
        return [self._pieces[int(i)] for i in ids]

    def write(self, top: RunningTopK, saved, state: dict[str, Any], done: bool,
              tokens_per_s: float, shards: Sequence[dict[str, Any]] = ()) -> None:  # fmt: skip
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
        tables.write_checkpoint(
            self.store, self.job,
            replaced=[(self.layers[s], int(n)) for s, n in changed],
            example_rows=rows, window_rows=window_rows, state=state, done=done,
            tokens_per_s=tokens_per_s, shards=shards,
        )  # fmt: skip
        self.stored_windows.update(new_windows)
