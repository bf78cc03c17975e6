"""Path patching (Wang et al. 2022, appendix B; Goldowsky-Dill et al. 2023): the effect of a
*sender* head on the metric through one route only — straight into the logits, or into the
query / key / value inputs of chosen *receiver* heads.

The three-run method (as in the ARENA IOI material), batched over senders:

1. cache every head's output ``z`` on the clean (reference) and corrupted (ABC) prompts;
2. run the clean prompt with the sender's ``z`` taken from the corrupted run and *every other
   head frozen* to its clean value; MLPs and LayerNorms are recomputed, so the sender's
   change reaches the receivers directly and through MLPs, never through other heads. For
   receivers = logits, the metric of this run is the answer. Otherwise cache the receivers'
   ``hook_q|k|v`` (computed from the patched residual stream *through the receiver's own
   LayerNorm*, which is why patching ``hook_q`` here is exactly patching the receiver's
   input);
3. run the clean prompt again with only the receivers' q/k/v replaced by the values of run 2
   (everything downstream recomputed), and measure the metric.

Senders are batched: copy ``n`` of the clean batch has sender ``n`` patched (one hook per
layer freezes all heads with one mask and then writes the sender), and runs 2 and 3 are done
chunk by chunk, so memory stays bounded. ``effect = (patched - clean) / (clean - corrupted)``:
0 for no effect, -1 as bad as the whole corrupted run.

transformer-lens 4.x also offers ``patching.get_act_patch_direct_path`` (one edge, via
``use_split_qkv_input``, every other reader sees the corrupted sender); that is a different
intervention (no freezing, no MLP route), and it mutates the model's flags, so it is not used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from interp.core.arrays import to_numpy
from interp.core.components import heads_text
from interp.core.errors import InterpError
from interp.core.hooks import head_name, resid_name
from interp.core.metrics import MetricLike, readout_for
from interp.methods.patching import (
    BaseRun,
    Patch,
    patched_forward,
    rows_per_chunk,
    run_with_cache,
)
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


RECEIVER_INPUTS = ("q", "k", "v")


@dataclasses.dataclass(frozen=True)
class PathPatchingResult(Result):
    """``values[layer, head]``: the metric with the path sender -> receivers patched."""

    kind: ClassVar[str] = "path_patching"
    values: np.ndarray  # [layer, head] mean metric
    effect: np.ndarray  # [layer, head] (values - clean) / (clean - corrupted)
    receivers: list  # [[layer, head], ...] or [] for the logits
    receiver_input: str  # "logits" or a combination of q, k, v ("q", "kv", ...)
    receiver_positions: str | None
    clean_value: float
    corrupted_value: float
    n_prompts: int
    #: the metric read (runs stored before it was recorded: logit_diff)
    metric: str = "logit_diff"

    @property
    def target(self) -> str:
        if not self.receivers:
            return "logits"
        heads = heads_text(self.receivers)
        return f"{self.receiver_input} of {heads}"

    def figure(self):
        from interp.figures.ioi import path_patching_figure

        return path_patching_figure(self)


def path_patch(
    model: Model,
    task,
    receivers: Sequence[tuple[int, int]] | None = None,
    receiver_input: str = "q",
    receiver_positions: str | None = None,
    senders: Sequence[tuple[int, int]] | None = None,
    chunk: int | None = None,
    desc: str | None = "path patching",
    metric: MetricLike = "logit_diff",
) -> PathPatchingResult:
    """Path-patch every sender head (all heads by default) into ``receivers``' inputs
    (``receiver_input``: any of ``q``, ``k``, ``v``, e.g. ``"kv"``) at ``receiver_positions``
    (a task position name such as ``"END"``; all positions when None), or into the logits
    when ``receivers`` is None or empty. ``metric``: ``"logit_diff"`` (default), ``"prob"``,
    ``"kl"`` or a callable ``metric(logits, task) -> [batch]`` (see
    :func:`interp.core.metrics.readout_for`).

    On ``reference:ioi`` (the planted circuit: name movers 6.1 and 6.3, S-inhibition heads
    4.2 and 5.0), the heads whose path to the logits carries the answer are the name movers,
    and the heads whose path into the name movers' queries at END matters are the
    S-inhibition heads (patching either pair drops the logit difference from 5.18 to 2.0):

    >>> import numpy as np
    >>> from interp import ioi_task, load
    >>> model = load("reference:ioi")
    >>> task = ioi_task(model, n_prompts=8)
    >>> def lowest(result, n=2):  # the n heads whose patch lowers the metric most
    ...     order = np.argsort(result.values.ravel(), kind="stable")[:n]
    ...     return [divmod(int(i), model.cfg.n_heads) for i in order]
    >>> lowest(path_patch(model, task, desc=None))  # senders -> the logits
    [(6, 1), (6, 3)]
    >>> to_queries = path_patch(model, task, receivers=[(6, 1), (6, 3)], receiver_input="q",
    ...                         receiver_positions="END", desc=None)
    >>> lowest(to_queries)
    [(4, 2), (5, 0)]
    """
    from interp.core.progress import progress

    cfg = model.cfg
    n_layers, n_heads = cfg.n_layers, cfg.n_heads
    receivers = [(int(r[0]), int(r[1])) for r in (receivers or [])]
    inputs = sorted(set(receiver_input)) if receivers else []
    if receivers and (not inputs or any(x not in RECEIVER_INPUTS for x in inputs)):
        raise InterpError(f"receiver_input must combine q, k, v; got {receiver_input!r}")
    for layer, head in receivers:
        if not (0 <= layer < n_layers and 0 <= head < n_heads):
            raise InterpError(f"receiver {layer}.{head} is outside {n_layers}x{n_heads}")
    if receiver_positions is not None and receiver_positions not in task.positions:
        raise InterpError(
            f"unknown position {receiver_positions!r}; the task names {task.position_names()}"
        )
    all_senders = [(lyr, h) for lyr in range(n_layers) for h in range(n_heads)]
    senders = all_senders if senders is None else [(int(s[0]), int(s[1])) for s in senders]
    # a sender at or after the last receiver's layer cannot reach it: effect exactly 0
    last = max(lyr for lyr, _ in receivers) if receivers else n_layers
    active = [s for s in senders if s[0] < last]

    z_names = [head_name(lyr, "z") for lyr in range(n_layers)]
    resid = [resid_name(lyr, "pre") for lyr in range(n_layers)]
    logits, clean = run_with_cache(model, task.clean_tokens, set(z_names + resid))
    at = torch.arange(task.n_prompts, device=logits.device)
    readout = readout_for(metric, task, logits[at, task.end.to(logits.device)])
    clean_value = readout(logits).mean().item()
    logits, corrupt_z = run_with_cache(model, task.corrupted_tokens, set(z_names))
    corrupted_value = readout(logits).mean().item()
    base = BaseRun(task.clean_tokens, [clean[n] for n in resid], z=[clean[n] for n in z_names])
    end, columns = task.end, readout.columns()  # the metric reads these logits only

    batch, seq_len = task.clean_tokens.shape
    device = task.device
    freeze = torch.ones(1, 1, 1, 1, 1, dtype=torch.bool, device=device)
    if receiver_positions is None:
        pos_mask = torch.ones(1, batch, seq_len, dtype=torch.bool, device=device)
    else:
        pos_mask = torch.nn.functional.one_hot(task.positions[receiver_positions], seq_len)
        pos_mask = pos_mask.bool()[None].to(device)  # [1, batch, pos]
    receiver_layers = sorted({lyr for lyr, _ in receivers})
    capture = [head_name(lyr, x) for lyr in receiver_layers for x in inputs]
    receiver_masks = {}
    for layer in receiver_layers:
        heads = torch.zeros(n_heads, dtype=torch.bool, device=device)
        heads[[h for lyr, h in receivers if lyr == layer]] = True
        receiver_masks[layer] = pos_mask[..., None, None] & heads[:, None]  # [1,b,pos,H,1]

    per_row = 2 if receivers else 1  # runs 2 and 3 hold a chunk each
    chunk = chunk or max(1, rows_per_chunk(model, batch, seq_len) // per_row)
    values = torch.full((len(all_senders),), clean_value)
    # senders grouped by layer: run 2 starts at the senders' layer (before it every head is
    # frozen to the clean run anyway), run 3 at the first receiver's layer
    groups = []
    for layer in sorted({lyr for lyr, _ in active}):
        same = [s for s in active if s[0] == layer]
        groups += [same[i : i + chunk] for i in range(0, len(same), chunk)]
    first_receiver = min(receiver_layers) if receivers else 0
    for group in progress(groups, desc=desc, disable=None if desc else True):
        copies = len(group)
        patches = []
        for layer in range(n_layers):
            hook = head_name(layer, "z")
            patches.append(Patch(hook, clean[hook], freeze))
            mask = torch.zeros(copies, 1, 1, n_heads, 1, dtype=torch.bool, device=device)
            rows = [i for i, (lyr, _) in enumerate(group) if lyr == layer]
            if rows:
                mask[rows, 0, 0, [group[i][1] for i in rows]] = True
                patches.append(Patch(hook, corrupt_z[hook], mask))
        logits, captured = patched_forward(
            model, base, patches, copies, capture, group[0][0], end, columns
        )
        if receivers:
            run3 = [  # receivers before the senders' layer keep their clean input
                Patch(name, captured[name], receiver_masks[int(name.split(".")[1])], True)
                for name in capture
                if name in captured
            ]
            logits, _ = patched_forward(
                model, base, run3, copies, start_layer=first_receiver, readout=end,
                columns=columns,
            )  # fmt: skip
        value = readout.read(logits).view(copies, batch).mean(-1).float().cpu()
        for i, sender in enumerate(group):
            values[all_senders.index(sender)] = value[i]
    values = values.view(n_layers, n_heads)
    span = clean_value - corrupted_value
    if abs(span) < 1e-9:
        raise InterpError("clean and corrupted prompts give the same metric; nothing to patch")
    keep = torch.zeros(n_layers, n_heads, dtype=torch.bool)
    for lyr, h in senders:
        keep[lyr, h] = True
    values = torch.where(keep, values, torch.tensor(float("nan")))
    return PathPatchingResult(
        values=to_numpy(values),
        effect=to_numpy((values - clean_value) / span),
        receivers=[list(r) for r in receivers],
        receiver_input="".join(inputs) if receivers else "logits",
        receiver_positions=receiver_positions,
        clean_value=clean_value,
        corrupted_value=corrupted_value,
        n_prompts=task.n_prompts,
        metric=readout.name,
    )
