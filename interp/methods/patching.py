"""Activation patching, written once and batched.

Activation patching (Meng et al. 2022; Wang et al. 2022; Heimersheim & Nanda 2024, "How to
use and interpret activation patching") runs the model on one input while overwriting an
activation with its value on another input, and measures the metric. *Noising*: run the
clean prompt, patch in the corrupted activation (what breaks the behaviour?). *Denoising*:
run the corrupted prompt, patch in the clean activation (what restores it?).

transformer-lens's ``patching`` module runs one forward per patch. Here a sweep of N patches
is ONE forward of ``N x batch`` rows: the base tokens are repeated N times and each copy gets
its own patch through a single edit per hook point, which selects with a boolean mask
(``torch.where(mask[copy], source, activation)``). Sweeps are chunked to bound memory.
A copy whose first patch is in block ``l`` computes blocks ``0..l-1`` exactly as the
unpatched run did, so it starts at block ``l`` from the cached run. For GPT-2 models the
forward runs through :class:`interp.core.resume.Resumer` (the bridge's arithmetic without its
per-call overhead): copies join one forward at their own blocks (at the head outputs when
nothing earlier in the block is patched), the last block and the unembedding run at the
metric's position only (:class:`~interp.core.metrics.LogitDiff`), and positions before the first
one where the two prompts differ are not recomputed. Other models run the bridge's hooked
blocks, grouped by start block (:func:`plan_groups`). The numbers equal transformer-lens's
to float rounding (tests/test_patching.py, tests/test_resume.py).

* :class:`Patch` — at one hook, copy ``n`` takes ``source`` wherever ``mask[n]`` is True
  (``source`` shared by every copy, or one per copy);
* :func:`patched_forward` / :func:`run_patches` — one batched forward / a chunked sweep;
* named sweeps, thin wrappers: :func:`patch_resid` (layer x position), :func:`patch_block`
  (attention / MLP outputs), :func:`patch_heads` (every head's output ``z``, query, key,
  value or pattern, over all positions or per position). Positions are absolute (when all
  prompts share a template) or the task's named positions (IO, S1, S2, END, ...).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from interp.core.arrays import to_numpy
from interp.core.device import memory_budget
from interp.core.errors import InterpError
from interp.core.hooks import block_out_name, head_name, names_filter, resid_name
from interp.core.metrics import MetricLike, Readout, normalised, readout_for
from interp.core.resume import BLOCK_HOOKS, Entry, Resumer
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


DIRECTIONS = ("noising", "denoising")
HEAD_ACTIVATIONS = ("z", "q", "k", "v", "pattern")


@dataclasses.dataclass(frozen=True)
class Patch:
    """At ``hook``, copy ``n`` of the batch takes ``source`` wherever ``mask[n]`` is True.

    ``source``: ``[batch, *act]`` (the same for every copy) or ``[n, batch, *act]``
    (``per_copy``). ``mask``: bool, broadcastable to ``[n, batch, *act]``; its first axis is
    ``n`` (or 1 for every copy). Several patches at one hook apply in order.
    """

    hook: str
    source: Tensor
    mask: Tensor | IndexedMask
    per_copy: bool = False


@dataclasses.dataclass(frozen=True)
class IndexedMask:
    """The masks of many copies, kept as a few distinct masks and an index: copy ``c`` uses
    ``masks[index[c]]``, or no patch where ``index[c] < 0``. A sweep over every head (and
    position) builds dense masks only for the copies of one forward (:meth:`rows`), so its
    memory follows the chunk, not layers x heads x positions.

    >>> import torch
    >>> m = IndexedMask(torch.eye(2, dtype=torch.bool), torch.tensor([1, -1, 0]))
    >>> m.rows(torch.tensor([0, 1, 2])).int().tolist()
    [[0, 1], [0, 0], [1, 0]]
    """

    masks: Bool[Tensor, "k ..."]
    index: Int[Tensor, " n"]

    def rows(self, idx: Int[Tensor, " m"]) -> Bool[Tensor, "m ..."]:
        """The dense masks of copies ``idx``."""
        sel = self.index[idx.to(self.index.device)].to(self.masks.device)
        out = self.masks[sel.clamp(min=0)]
        return out & (sel >= 0).view(-1, *[1] * (out.dim() - 1))

    def touched(self) -> Bool[Tensor, " n"]:
        """Which copies this mask patches at all."""
        return (self.index >= 0).cpu()

    def any(self) -> bool:
        return bool(self.touched().any())


def _apply(act: Tensor, patches: list[Patch], copies: int, skip: int = 0, axis: int = 2) -> Tensor:
    """Apply ``patches`` to ``act``, the first ``copies`` copies of the batch (later copies
    may not have started yet). With ``skip`` > 0 ``act`` lacks the first ``skip`` positions
    (on ``axis`` of the ``[n, batch, ...]`` view): masks and sources are cut to match."""
    shaped = act.view(copies, act.shape[0] // copies, *act.shape[1:])
    for p in patches:
        if isinstance(p.mask, IndexedMask):
            raise InterpError("an IndexedMask must be made dense (run_patches) before a forward")
        source = p.source[:copies] if p.per_copy else p.source.unsqueeze(0)
        source = _tail(source.to(act.device, act.dtype), axis, skip, shaped.shape[axis])
        mask = _tail(p.mask[:copies].to(act.device), axis, skip, shaped.shape[axis])
        shaped = torch.where(mask, source, shaped)
    return shaped.reshape(act.shape)


def _tail(x: Tensor, axis: int, skip: int, length: int) -> Tensor:
    """``x`` without its first ``skip`` positions on ``axis`` (unless broadcast there)."""
    if skip and x.shape[axis] == length + skip:
        return x.narrow(axis, skip, length)
    return x


def hook_layer(name: str) -> int:
    """The block index of a hook name (``blocks.3.attn.hook_z`` -> 3; embeddings -> 0;
    ``ln_final``/``unembed`` -> a large number)."""
    parts = name.split(".")
    if parts[0] == "blocks":
        return int(parts[1])
    return 0 if "embed" in parts[0] and "unembed" not in parts[0] else 10**6


@dataclasses.dataclass(frozen=True)
class BaseRun:
    """The unpatched run every copy starts from: its tokens and its residual stream entering
    each block, so a copy whose first patch is in block ``l`` can start at block ``l``
    (blocks before it would compute exactly the cached values).

    ``shared``: the number of leading positions where every patch source equals this run
    (a source run on tokens that agree with these up to there: with causal attention its
    activations there are this run's), with this run's ``keys`` and ``values`` per block;
    patched forwards then compute only the later positions (:mod:`interp.core.resume`)."""

    tokens: Int[Tensor, "batch pos"]
    resid_pre: list[Float[Tensor, "batch pos d_model"]]
    keys: list[Float[Tensor, "batch pos n_heads d_head"]] = dataclasses.field(default_factory=list)
    values: list[Float[Tensor, "batch pos n_heads d_head"]] = dataclasses.field(
        default_factory=list
    )
    shared: int = 0
    z: list[Float[Tensor, "batch pos n_heads d_head"]] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, model: Model, tokens: Tensor) -> BaseRun:
        names = [resid_name(layer, "pre") for layer in range(model.cfg.n_layers)]
        cache = source_cache(model, tokens, set(names))
        return cls(tokens, [cache[n] for n in names])


def _from_z(name: str, layer: int) -> bool:
    """Whether hook ``name`` is outside block ``layer`` or at/after its ``hook_z`` (so the
    block can start from the base run's head outputs)."""
    parts = name.split(".", 2)
    return int(parts[1]) != layer or BLOCK_HOOKS.index(parts[2]) >= BLOCK_HOOKS.index("attn.hook_z")


def run_with_cache(
    model: Model, tokens: Int[Tensor, "batch pos"], names: set[str]
) -> tuple[Float[Tensor, "batch pos vocab"], dict[str, Tensor]]:
    """The logits on ``tokens`` and the activations ``names`` (only those are cached), through
    :class:`~interp.core.resume.Resumer` when it fires them all (same numbers, less overhead),
    else the bridge's ``run_with_cache``."""
    resumer = Resumer.of(model)
    with torch.no_grad():
        if resumer is not None and resumer.supports(names):
            return resumer.run_with_cache(tokens, names)
        logits, cache = model.run_with_cache(tokens, names_filter=names_filter(names))
    return logits, {n: cache[n] for n in names}


def shared_prefix(a: Int[Tensor, "batch pos"], b: Int[Tensor, "batch pos"]) -> int:
    """Leading positions where ``a`` and ``b`` agree in every prompt."""
    differ = (a != b).any(0).nonzero()
    return int(differ[0, 0]) if len(differ) else a.shape[1]


def patched_forward(
    model: Model,
    base: BaseRun | Tensor,
    patches: Sequence[Patch],
    copies: int,
    capture: Sequence[str] = (),
    start_layer: int | Sequence[int] = 0,
    readout: Int[Tensor, " batch"] | None = None,
    columns: Int[Tensor, "batch k"] | None = None,
) -> tuple[Float[Tensor, "rows out_pos vocab"], dict[str, Tensor]]:
    """One forward of ``copies x batch`` rows with every patch applied; returns the logits
    and the ``capture`` d activations (shaped ``[copies, batch, *act]``, after patching).

    With ``start_layer > 0`` (and a :class:`BaseRun`) the forward starts at that block from
    the base run's cached residual stream: the caller guarantees that nothing before it is
    patched (patches at earlier hooks would be no-ops there). ``start_layer`` may give one
    block per copy (non-decreasing). With ``readout`` (one position per prompt) the logits
    are ``[rows, 1, vocab]`` at those positions; with ``columns`` (token ids per prompt)
    only those logits are returned (``[rows, out_pos, k]``).

    GPT-2 models resumed from a :class:`BaseRun` run through :class:`interp.core.resume.Resumer`:
    the same arithmetic with less overhead, every copy joining at its own block (at its
    head outputs when nothing earlier in that block is patched), the last block at the
    readout positions only, and the base run's ``shared`` prefix not recomputed when
    nothing is captured. Anything else runs the bridge's hooked blocks from the earliest
    start."""
    starts = [start_layer] * copies if isinstance(start_layer, int) else list(start_layer)
    if len(starts) != copies or sorted(starts) != starts:
        raise InterpError("start_layer must give one non-decreasing block per copy")
    by_hook: dict[str, list[Patch]] = defaultdict(list)
    for p in patches:
        by_hook[p.hook].append(p)
    captured: dict[str, Tensor] = {}
    names = {n for n in set(by_hook) | set(capture) if hook_layer(n) >= starts[0]}
    resumer = Resumer.of(model) if isinstance(base, BaseRun) and base.resid_pre else None
    if resumer is not None and isinstance(base, BaseRun) and resumer.supports(names):
        batch = base.tokens.shape[0]
        skip = base.shared if (base.keys and not capture and readout is not None) else 0
        skip = min(skip, int(readout.min())) if skip and readout is not None else 0

        def edit(name: str, act: Tensor) -> Tensor:
            now = act.shape[0] // batch  # copies started so far
            if name in by_hook:
                axis = 3 if name.endswith("hook_pattern") else 2
                act = _apply(act, by_hook[name], now, skip, axis)
            if name in capture:
                captured[name] = act.view(now, -1, *act.shape[1:])
            return act

        entries = {}
        for layer in sorted(set(starts)):
            n = starts.count(layer)
            resid = base.resid_pre[layer][:, skip:].repeat(n, 1, 1)
            z = None
            if base.z and all(_from_z(name, layer) for name in names):
                z = base.z[layer][:, skip:].repeat(n, 1, 1, 1)
            entries[layer] = Entry(resid, z)
        rows = None if readout is None else readout.repeat(copies)
        cols = None if columns is None else columns.repeat(copies, 1)
        prefix = resumer.prefix(base.keys, base.values, skip) if skip else None
        return resumer.run(entries, names, edit, rows, prefix, cols), captured

    def make(name: str) -> Callable:
        items = by_hook.get(name, [])

        def hook(act: Tensor, hook: Any) -> Tensor:
            if items:
                act = _apply(act, items, copies)
            if name in capture:
                captured[name] = act.view(copies, -1, *act.shape[1:])
            return act

        return hook

    hooks: list[tuple[str | Callable, Callable]] = [(n, make(n)) for n in names]
    tokens = base.tokens if isinstance(base, BaseRun) else base
    start_layer = starts[0]
    with torch.no_grad():
        if start_layer <= 0 or not isinstance(base, BaseRun):
            logits = model.run_with_hooks(tokens.repeat(copies, 1), fwd_hooks=hooks)
        else:
            resid = base.resid_pre[start_layer].repeat(copies, 1, 1)
            with model.hooks(fwd_hooks=hooks):
                for block in model.blocks[start_layer:]:
                    out = block(resid)
                    resid = out[0] if isinstance(out, tuple) else out
                logits = model.unembed(model.ln_final(resid))
    if readout is not None:
        at = torch.arange(logits.shape[0], device=logits.device)
        logits = logits[at, readout.to(logits.device).repeat(copies)][:, None]
    if columns is not None:
        index = columns.to(logits.device).repeat(copies, 1)[:, None]
        logits = logits.gather(-1, index.expand(-1, logits.shape[1], -1))
    return logits, captured


def rows_per_chunk(model: Model, batch: int, seq_len: int, memory: int | None = None) -> int:
    """How many copies of a ``batch x seq_len`` batch fit one chunk of ``memory`` bytes
    (default: :func:`interp.core.device.memory_budget` of the model's device): logits plus
    ~24 residual-sized activations per layer are budgeted."""
    if memory is None:
        memory = memory_budget(next(model.parameters()).device)
    cfg = model.cfg
    per_row = seq_len * 4 * (cfg.d_vocab + 24 * cfg.d_model + 4 * cfg.n_heads * seq_len)
    return max(1, memory // (per_row * max(batch, 1)))


def first_layers(patches: Sequence[Patch], n_copies: int) -> Tensor:
    """For each copy, the first block any patch touches it in (copies untouched: a large
    number)."""
    first = torch.full((n_copies,), 10**6, dtype=torch.long)
    for p in patches:
        if isinstance(p.mask, IndexedMask):
            touched = p.mask.touched()
        else:
            touched = p.mask.reshape(p.mask.shape[0], -1).any(1).cpu()
        touched = touched.expand(n_copies) if touched.shape[0] == 1 else touched
        layer = torch.where(touched, hook_layer(p.hook), 10**6)
        first = torch.minimum(first, layer)
    return first


def run_patches(
    model: Model,
    tokens: Int[Tensor, "batch pos"] | BaseRun,
    patches: Sequence[Patch],
    n_copies: int,
    readout: Readout | Callable[[Tensor], Tensor],
    chunk: int | None = None,
    desc: str | None = None,
    memory: int | None = None,
    skip_unpatched_layers: bool = True,
) -> Float[Tensor, "n batch"]:
    """A sweep of ``n_copies`` patched runs as chunked batched forwards; ``readout`` maps
    the logits of ``k x batch`` rows to ``k x batch`` values: a
    :class:`~interp.core.metrics.Readout` (only its positions are then computed in the last
    block, and only its logit columns when it names them) or any function of the full
    logits.

    Copies are grouped by the first block they are patched in, and each group starts there
    from the base run's cached residual stream (``skip_unpatched_layers``)."""
    from interp.core.progress import progress

    if not isinstance(tokens, BaseRun):
        tokens = BaseRun.of(model, tokens) if skip_unpatched_layers else BaseRun(tokens, [])
    batch, seq_len = tokens.tokens.shape
    chunk = chunk or rows_per_chunk(model, batch, seq_len, memory)
    first = first_layers(patches, n_copies).clamp(max=model.cfg.n_layers - 1)
    if not skip_unpatched_layers:
        first.zero_()
    groups: Sequence[tuple[int | list[int], Tensor]]
    if tokens.resid_pre and Resumer.of(model) is not None:
        groups = ragged_groups(first, model.cfg.n_layers, chunk)
    else:
        groups = plan_groups(first, model.cfg.n_layers, batch * seq_len, chunk)
    positions, columns = (
        (readout.positions, readout.columns()) if isinstance(readout, Readout) else (None, None)
    )
    out = torch.empty(n_copies, batch)
    for starts, idx in progress(groups, desc=desc, disable=None if desc else True):
        sub = [q for q in (_take_rows(p, idx) for p in patches) if bool(q.mask.any())]
        logits, _ = patched_forward(model, tokens, sub, len(idx), start_layer=starts,
                                    readout=positions, columns=columns)  # fmt: skip
        values = readout.read(logits) if isinstance(readout, Readout) else readout(logits)
        out[idx] = values.view(len(idx), batch).float().cpu()
    return out.to(tokens.tokens.device)


#: a block's fixed cost per forward (reading its weights, running its hooks), in token
#: positions of compute; measured ~50 on CPU for both reference:ioi and GPT-2 small shapes
BLOCK_COST_TOKENS = 64
#: the fixed cost of a forward beyond its blocks (embedding, unembedding, Python), likewise
FORWARD_COST_TOKENS = 128


def ragged_groups(
    first: Int[Tensor, " n"], n_layers: int, chunk: int
) -> list[tuple[list[int], Tensor]]:
    """Forwards for a sweep through :class:`~interp.core.resume.Resumer`: copies sorted by the
    block they start at, at most ``chunk`` per forward, each joining at its own block.
    Copies that start in the last block go in forwards of their own, so that the others'
    last block runs at the readout positions only."""
    order = torch.argsort(first, stable=True)
    late = first[order] == n_layers - 1
    groups = []
    for part in (order[~late], order[late]):
        for i in range(0, len(part), chunk):
            idx = part[i : i + chunk]
            groups.append((first[idx].tolist(), idx))
    return groups


def plan_groups(
    first: Int[Tensor, " n"], n_layers: int, tokens_per_copy: int, chunk: int
) -> list[tuple[int, Tensor]]:
    """Forwards for a sweep: copies grouped by the block they start at, at most ``chunk`` per
    forward. A later group joins the previous forward when the blocks it would run on its
    own cost more than recomputing its copies from the earlier start (small batches)."""
    order = torch.argsort(first, stable=True)
    groups: list[list] = []  # [start layer, copy indices]
    for layer in torch.unique(first).tolist():
        idx = order[first[order] == layer].tolist()
        if groups and len(groups[-1][1]) + len(idx) <= chunk:
            start = groups[-1][0]
            extra = (layer - start) * len(idx) * tokens_per_copy
            if (n_layers - layer) * BLOCK_COST_TOKENS + FORWARD_COST_TOKENS > extra:
                groups[-1][1] += idx
                continue
        groups += [[layer, idx[i : i + chunk]] for i in range(0, len(idx), chunk)]
    return [(layer, torch.tensor(idx)) for layer, idx in groups]


def _take_rows(p: Patch, idx: Tensor) -> Patch:
    if isinstance(p.mask, IndexedMask):
        mask = p.mask.rows(idx)
    else:
        mask = p.mask if p.mask.shape[0] == 1 else p.mask[idx.to(p.mask.device)]
    source = p.source[idx.to(p.source.device)] if p.per_copy else p.source
    return dataclasses.replace(p, mask=mask, source=source)


# -- results --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PatchingResult(Result):
    """A patching sweep: the metric with each patch, raw and normalised (0 = corrupted run,
    1 = clean run), over named axes (e.g. ``["layer", "head"]``)."""

    kind: ClassVar[str] = "patching"
    values: np.ndarray  # mean metric per patch, shape = axis sizes
    normalised: np.ndarray  # (values - corrupted) / (clean - corrupted)
    axes: list[str]
    labels: dict[str, list[str]]
    activation: str
    direction: str
    clean_value: float
    corrupted_value: float
    n_prompts: int
    #: the metric read after each patch (runs stored before it was recorded: logit_diff)
    metric: str = "logit_diff"

    @property
    def effect(self) -> np.ndarray:
        """Change of the metric caused by each patch, relative to the unpatched base run."""
        base = self.clean_value if self.direction == "noising" else self.corrupted_value
        return self.values - base

    def figure(self):
        from interp.figures.ioi import patching_figure

        return patching_figure(self)


# -- sweeps ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Runs:
    """The two unpatched runs of a sweep: the base run (with its residual stream, so patched
    copies can start late) and the source activations, plus the normalised metric's anchors."""

    base: BaseRun
    source: dict[str, Tensor]
    clean_value: float
    corrupted_value: float
    readout: Readout


def prepare_runs(
    model: Model, task, direction: str, source_names: set[str], metric: MetricLike = "logit_diff"
) -> Runs:
    """Two forwards: the base run (clean for noising, corrupted for denoising) caching its
    residual stream, and the source run caching ``source_names``; their metrics are the
    clean and corrupted anchors. ``metric`` (a name, a callable or a readout) is resolved
    against the clean run's logits (which ``"kl"`` compares to)."""
    if direction not in DIRECTIONS:
        raise InterpError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
    base, source = task.clean_tokens, task.corrupted_tokens
    if direction == "denoising":
        base, source = source, base
    layers = range(model.cfg.n_layers)
    resid = [resid_name(layer, "pre") for layer in layers]
    kvz = [[head_name(layer, x) for layer in layers] for x in ("k", "v", "z")]
    n = base.shape[0]
    wanted = set(resid).union(source_names, *kvz)
    logits, cache = run_with_cache(model, torch.cat([base, source]), wanted)  # both at once
    at = torch.arange(n, device=logits.device)
    clean_rows = logits[:n] if direction == "noising" else logits[n:]
    readout = readout_for(metric, task, clean_rows[at, task.end.to(logits.device)])
    values = readout(logits).view(2, n).mean(-1).tolist()
    base_value, source_value = values
    clean, corrupted = (
        (base_value, source_value) if direction == "noising" else (source_value, base_value)
    )
    return Runs(
        BaseRun(
            base,
            [cache[name][:n] for name in resid],
            keys=[cache[name][:n] for name in kvz[0]],
            values=[cache[name][:n] for name in kvz[1]],
            shared=shared_prefix(base, source),
            z=[cache[name][:n] for name in kvz[2]],
        ),
        {name: cache[name][n:] for name in source_names},
        clean,
        corrupted,
        readout,
    )


def source_cache(model: Model, tokens: Tensor, names: set[str]) -> dict[str, Tensor]:
    """The activations ``names`` on ``tokens`` (cached only what is needed)."""
    return run_with_cache(model, tokens, names)[1]


def position_masks(
    task, positions: str | Sequence[str], seq_len: int
) -> tuple[Bool[Tensor, "n_pos batch pos"], list[str]]:
    """One ``[batch, pos]`` mask per position: absolute (``"all"``) or named positions."""
    device = task.clean_tokens.device
    batch = task.n_prompts
    if positions == "all":
        eye = torch.eye(seq_len, dtype=torch.bool, device=device)
        return eye[:, None, :].expand(seq_len, batch, seq_len), [str(p) for p in range(seq_len)]
    names = [positions] if isinstance(positions, str) else list(positions)
    unknown = [n for n in names if n not in task.positions]
    if unknown:
        raise InterpError(f"unknown positions {unknown}; the task names {task.position_names()}")
    masks = torch.stack(
        [torch.nn.functional.one_hot(task.positions[n], seq_len).bool() for n in names]
    )
    return masks.to(device), names


def _finish(
    model: Model, task, runs, values, axes, labels, activation, direction
) -> PatchingResult:
    values = values.mean(-1)  # mean over prompts
    return PatchingResult(
        values=to_numpy(values),
        normalised=to_numpy(
            torch.as_tensor(normalised(values, runs.clean_value, runs.corrupted_value))
        ),
        axes=axes,
        labels=labels,
        activation=activation,
        direction=direction,
        clean_value=runs.clean_value,
        corrupted_value=runs.corrupted_value,
        n_prompts=task.n_prompts,
        metric=runs.readout.name,
    )


def patch_resid(
    model: Model,
    task,
    where: str = "pre",
    positions: str | Sequence[str] = "all",
    direction: str = "denoising",
    chunk: int | None = None,
    metric: MetricLike = "logit_diff",
    memory: int | None = None,
) -> PatchingResult:
    """The residual stream (``resid_pre|mid|post``) of every layer at every position:
    ``values[layer, position]``."""
    if where not in ("pre", "mid", "post"):
        raise InterpError(f"where must be pre, mid or post; got {where!r}")
    hooks = [resid_name(layer, where) for layer in range(model.cfg.n_layers)]
    return _layer_pos_sweep(
        model, task, hooks, f"resid_{where}", positions, direction, chunk, metric, memory
    )


def patch_block(
    model: Model,
    task,
    what: str = "attn_out",
    positions: str | Sequence[str] = "all",
    direction: str = "denoising",
    chunk: int | None = None,
    metric: MetricLike = "logit_diff",
    memory: int | None = None,
) -> PatchingResult:
    """The output of every attention layer (``attn_out``) or MLP (``mlp_out``) at every
    position: ``values[layer, position]``."""
    if what not in ("attn_out", "mlp_out"):
        raise InterpError(f"what must be attn_out or mlp_out; got {what!r}")
    hooks = [block_out_name(layer, what) for layer in range(model.cfg.n_layers)]
    return _layer_pos_sweep(model, task, hooks, what, positions, direction, chunk, metric, memory)


def _layer_pos_sweep(
    model: Model, task, hooks, activation, positions, direction, chunk, metric, memory=None
):
    runs = prepare_runs(model, task, direction, set(hooks), metric)
    cache = runs.source
    pos_masks, pos_labels = position_masks(task, positions, task.seq_len)
    n_layers, n_pos = len(hooks), len(pos_labels)
    patches = []
    copies = torch.arange(n_layers * n_pos)  # layer-major: copy = layer * n_pos + position
    for layer, hook in enumerate(hooks):
        index = torch.where(copies // n_pos == layer, copies % n_pos, -1)
        patches.append(Patch(hook, cache[hook], IndexedMask(pos_masks[..., None], index)))
    values = run_patches(
        model, runs.base, patches, n_layers * n_pos, runs.readout, chunk, activation, memory
    )
    labels = {"layer": [str(i) for i in range(n_layers)], "position": pos_labels}
    values = values.view(n_layers, n_pos, -1)
    return _finish(model, task, runs, values, ["layer", "position"], labels, activation, direction)


def head_patches(
    model: Model,
    what: str,
    heads: Sequence[tuple[int, int]],
    cache: dict[str, Tensor],
    pos_masks: Bool[Tensor, "n_pos batch pos"] | None = None,
) -> list[Patch]:
    """One copy per head in ``heads`` (and per position mask of ``pos_masks``, position-major:
    copy ``p * len(heads) + i``): it takes ``cache``'s ``what`` activation for head
    ``heads[i]`` at the ``[batch, pos]`` positions of ``pos_masks[p]`` (all positions when
    None). One patch per layer, whose :class:`IndexedMask` holds one mask per (position,
    head), never one per copy."""
    n_heads = model.cfg.n_heads
    n_pos = 1 if pos_masks is None else pos_masks.shape[0]
    layers_of = torch.tensor([int(lh[0]) for lh in heads]).repeat(n_pos)
    head_of = torch.tensor([int(lh[1]) for lh in heads]).repeat(n_pos)
    pos_of = torch.arange(n_pos).repeat_interleave(len(heads))
    patches = []
    for layer in sorted({int(lh[0]) for lh in heads}):
        hook = head_name(layer, what)
        act = cache[hook]
        if pos_masks is None:
            pm = torch.ones(1, 1, 1, dtype=torch.bool, device=act.device)  # broadcast
        else:
            pm = pos_masks.to(act.device)
        eye = torch.eye(n_heads, dtype=torch.bool, device=act.device)
        # [n_pos, head, batch, n_heads, pos]: mask (p, h) selects head h at pm[p]
        masks = pm[:, None, :, None, :] & eye[None, :, None, :, None]
        masks = masks.flatten(0, 1)
        if what == "pattern":
            masks = masks[..., None]  # [k, batch, head, q_pos, 1]
        else:
            masks = masks.transpose(2, 3)[..., None]  # [k, batch, pos, head, 1]
        index = torch.where(layers_of == layer, pos_of * n_heads + head_of, -1)
        patches.append(Patch(hook, act, IndexedMask(masks, index)))
    return patches


def all_heads(model: Model) -> list[tuple[int, int]]:
    return [(layer, h) for layer in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]


def patch_heads(
    model: Model,
    task,
    what: str = "z",
    by_position: bool = False,
    positions: str | Sequence[str] = "all",
    direction: str = "denoising",
    chunk: int | None = None,
    metric: MetricLike = "logit_diff",
    memory: int | None = None,
) -> PatchingResult:
    """Every head's output (``z``), query, key, value or attention pattern, over all positions
    (``values[layer, head]``) or per position (``values[layer, position, head]``; for the
    pattern, the destination position)."""
    if what not in HEAD_ACTIVATIONS:
        raise InterpError(f"what must be one of {HEAD_ACTIVATIONS}; got {what!r}")
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    names = {head_name(lyr, what) for lyr in range(n_layers)}
    runs = prepare_runs(model, task, direction, names, metric)
    cache = runs.source
    heads = all_heads(model)
    axes = ["layer", "head"]
    labels = {"layer": [str(i) for i in range(n_layers)], "head": [str(i) for i in range(n_heads)]}
    if not by_position:
        patches = head_patches(model, what, heads, cache)
        values = run_patches(
            model, runs.base, patches, len(heads), runs.readout, chunk, f"heads {what}", memory
        )
        values = values.view(n_layers, n_heads, -1)
    else:
        pos_masks, pos_labels = position_masks(task, positions, task.seq_len)
        patches = head_patches(model, what, heads, cache, pos_masks)  # (position, layer, head)
        n = len(pos_labels) * len(heads)
        values = run_patches(
            model, runs.base, patches, n, runs.readout, chunk, f"heads {what} by pos", memory
        )
        values = values.view(len(pos_labels), n_layers, n_heads, -1).transpose(0, 1)
        axes = ["layer", "position", "head"]
        labels["position"] = pos_labels
    return _finish(model, task, runs, values, axes, labels, f"head_{what}", direction)


#: every activation :func:`patch` sweeps: name -> (sweep, its fixed arguments)
ACTIVATIONS: dict[str, tuple[Callable[..., PatchingResult], dict[str, Any]]] = {
    **{f"resid_{w}": (patch_resid, {"where": w}) for w in ("pre", "mid", "post")},
    **{w: (patch_block, {"what": w}) for w in ("attn_out", "mlp_out")},
    **{w: (patch_heads, {"what": w}) for w in HEAD_ACTIVATIONS},
}


def patch(
    model: Model,
    task,
    activation: str = "z",
    *,
    positions: str | Sequence[str] | None = None,
    metric: MetricLike = "logit_diff",
    direction: str = "denoising",
    chunk: int | None = None,
    memory: int | None = None,
) -> PatchingResult:
    """Activation patching of every layer (and head) for one kind of ``activation``.

    ``activation``: ``resid_pre``, ``resid_mid``, ``resid_post`` or ``attn_out``,
    ``mlp_out`` (``values[layer, position]``), or a head activation ``z``, ``q``, ``k``,
    ``v``, ``pattern`` (``values[layer, head]`` over all positions at once, or with
    ``positions``, ``values[layer, position, head]``). ``positions``: ``"all"`` (every
    absolute position; prompts must share a template) or the task's named positions
    (``["IO", "S2", "END"]``); residual and block sweeps default to ``"all"``.
    ``metric``: ``"logit_diff"`` (default), ``"prob"``, ``"kl"`` or a callable
    ``metric(logits, task) -> [batch]`` on the logits at the readout position.
    ``direction``: ``"denoising"`` (default, as transformer-lens's patching functions:
    clean activations into the corrupted run) or ``"noising"``. ``.values`` holds the
    metric after each patch, averaged over prompts; ``.normalised`` is 0 at the corrupted
    run and 1 at the clean run. ``memory`` (bytes) bounds one batched forward (default: a
    share of the device's free memory, :func:`interp.core.device.memory_budget`).

    >>> import interp
    >>> model = interp.load("reference:ioi")
    >>> task = interp.ioi_task(model, n_prompts=8)
    >>> result = interp.patch(model, task, "z")
    >>> result.values.shape, result.axes
    ((8, 4), ['layer', 'head'])
    """
    if activation not in ACTIVATIONS:
        raise InterpError(
            f"unknown activation {activation!r}; patching supports {', '.join(ACTIVATIONS)}"
        )
    sweep, fixed = ACTIVATIONS[activation]
    options: dict[str, Any] = dict(metric=metric, direction=direction, chunk=chunk, memory=memory)
    if sweep is patch_heads:
        options.update(by_position=positions is not None, positions=positions or "all")
    else:
        options["positions"] = positions or "all"
    return sweep(model, task, **fixed, **options)
