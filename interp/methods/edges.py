"""Edge scores: EAP, EAP-IG (inputs) and exact edge activation patching.

Each edge ``u -> v`` of the graph (:mod:`interp.methods.graph`) is scored by how much the
metric changes when ``v`` reads ``u``'s *corrupted* output instead of its clean one (or its
mean, ``ablation="mean"``), everything else as in the clean run (MIB's convention):

* ``"eap"`` — edge attribution patching (Syed et al. 2023): the first-order estimate
  ``(a_u^corrupt - a_u^clean) . dM/d(input of v)``, the gradient taken on the clean run:
  two forwards and one backward for every edge at once;
* ``"eap-ig"`` — EAP with integrated gradients over the inputs (Hanna et al. 2024, "Have
  faith in faithfulness"; MIB's ``EAP-IG-inputs``): the same difference dotted with the
  gradient averaged over ``ig_steps`` runs whose input embeddings go from the corrupted to
  the clean ones (``x_k = x^corrupt + k/m (x^clean - x^corrupt)``, ``k = 0..m-1``, m = 5
  as in MIB);
* ``"exact"`` — exact edge activation patching: one patched run per edge, ``v``'s input
  set to its clean input ``- a_u^clean + a_u^corrupt`` and everything downstream
  recomputed. The runs are batched on the shared patching mechanism
  (:func:`interp.methods.patching.patched_forward`): ``v``'s query, key, value, MLP
  pre-activation or final residual is precomputed per copy and patched in, each copy
  starting at ``v``'s block from the cached clean run.

Scores are mean changes over prompts, signed as MIB's (the metric's loss: an edge whose
corruption lowers a logit difference scores positive; for ``"kl"``, which rises, the
change itself). ``metric=`` takes any metric of :func:`interp.core.metrics.readout_for`.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from interp.core.errors import InterpError
from interp.core.hooks import head_name, mlp_name, resid_name
from interp.core.metrics import MetricLike, Readout, normalised, readout_for
from interp.core.progress import progress
from interp.methods.edge_forward import GraphForward, Writers
from interp.methods.graph import Circuit, EdgeGraph
from interp.methods.patching import DIRECTIONS, Patch, patched_forward, prepare_runs, rows_per_chunk

METHODS = ("eap", "eap-ig", "exact")
ABLATIONS = ("patching", "mean")


@dataclasses.dataclass
class EdgeRuns:
    """The base run (clean; corrupted for ``direction="denoising"``) and the replacement
    writers (corrupted or mean; clean when denoising) every method needs."""

    forward: GraphForward
    x_base: Tensor  # [batch, pos, d_model] input embeddings of the base run
    base: Writers
    replacement: Writers
    readout: Readout
    base_value: float  # the metric on the base run (m(N))
    replaced_value: float  # the metric with every edge replaced (m(empty))
    ablation: str
    direction: str = "noising"

    @property
    def delta(self) -> Float[Tensor, "batch pos n_sources d_model"]:
        """Replacement minus base output of every writer."""
        return self.replacement.stacked() - self.base.stacked()


def prepare_edge_runs(
    model: Any,
    task: Any,
    metric: MetricLike = "logit_diff",
    ablation: str = "patching",
    direction: str = "noising",
) -> EdgeRuns:
    """Two plain forwards (clean, corrupted) through :class:`GraphForward`. The base run
    is the clean one and edges are replaced by corrupted outputs (``"noising"``, MIB's
    setting), or the reverse (``"denoising"``, transformer-lens's convention). With
    ``ablation="mean"`` the replacement is each writer's mean over the task's corrupted
    prompts of its template, per position (as mean ablation here averages). Raises when
    the metric does not tell the base run from the replaced one."""
    if ablation not in ABLATIONS:
        raise InterpError(f"ablation must be one of {ABLATIONS}; got {ablation!r}")
    if direction not in DIRECTIONS:
        raise InterpError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
    if direction == "denoising" and ablation != "patching":
        raise InterpError("denoising replaces corrupted outputs by clean ones: use patching")
    forward = GraphForward.of(model)
    end = task.end
    with torch.no_grad():
        x_clean = forward.embed(task.clean_tokens)
        x_corrupted = forward.embed(task.corrupted_tokens)
        clean_logits, clean = forward.run(x_clean, end)
        corrupted_logits, corrupted = forward.run(x_corrupted, end)
    readout = readout_for(metric, task, clean_logits)
    if direction == "denoising":
        x_base, base, replacement, base_logits = x_corrupted, corrupted, clean, corrupted_logits
    else:
        x_base, base, base_logits = x_clean, clean, clean_logits
        replacement = corrupted if ablation == "patching" else corrupted.map(task.mean_by_group)
    g = forward.graph
    none = torch.zeros(1, *g.real.shape, dtype=torch.bool)
    with torch.no_grad():
        base_value = float(readout.at(base_logits).mean())
        empty = forward.circuit_metric(x_base, end, replacement, none, readout.at)
    replaced_value = float(empty.mean())
    try:
        normalised(0.0, base_value, replaced_value)
    except InterpError as err:
        raise InterpError(
            f"the metric {readout.name!r} is {base_value:.4g} both on the base run and with "
            "every edge replaced, so no edge can change it (a constant metric?); choose a "
            "metric and corruption that differ"
        ) from err
    return EdgeRuns(forward, x_base, base, replacement, readout, base_value,
                    replaced_value, ablation, direction)  # fmt: skip


def importance_sign(readout: Readout, direction: str) -> float:
    """Importance from effect: the metric's loss when noising (KL is a loss already), its
    gain when denoising."""
    sign = 1.0 if readout.name == "kl" else -1.0
    return sign if direction == "noising" else -sign


def eap_effects(
    runs: EdgeRuns, ig_steps: int = 5, integrated: bool = False
) -> Float[Tensor, "n_sources n_destinations"]:
    """The estimated change of the mean metric when each edge carries its replacement
    value: ``delta . gradient``, the gradient at the clean run (EAP) or, ``integrated``,
    averaged over ``ig_steps`` inputs interpolated from the replacement to the clean input
    embeddings, ``alpha = k / ig_steps`` for ``k = 0 .. ig_steps - 1`` as in MIB
    (EAP-IG-inputs). Zero off the graph."""
    if ig_steps < 1:
        raise InterpError(f"ig_steps must be at least 1; got {ig_steps}")
    f, end = runs.forward, None
    delta = runs.delta
    total = torch.zeros(delta.shape[2], f.graph.n_destinations, dtype=delta.dtype,
                        device=delta.device)  # fmt: skip
    end = runs.readout.positions.to(delta.device)
    start = runs.replacement.input
    steps = [k / ig_steps for k in range(ig_steps)] if integrated else [1.0]
    for alpha in steps:
        x = start + alpha * (runs.x_base - start)
        _, _, grads = f.gradients(x, end, lambda logits: runs.readout.at(logits).mean())
        total += torch.einsum("bpsd,bpvd->sv", delta, grads)
    effect = total / len(steps)
    return effect * torch.as_tensor(f.graph.real, device=effect.device)


def exact_effects(
    model: Any,
    task: Any,
    runs: EdgeRuns,
    chunk: int | None = None,
    only: np.ndarray | None = None,
) -> Float[Tensor, "n_sources n_destinations"]:
    """The exact change of the mean metric when each edge alone carries its replacement
    value (one patched run per edge, batched; see the module docstring); with ``only``
    (a boolean ``[n_sources, n_destinations]`` mask) just those edges (others 0)."""
    f, g = runs.forward, runs.forward.graph
    prep = prepare_runs(model, task, runs.direction, set(), runs.readout)
    base = prep.base if runs.ablation == "patching" else dataclasses.replace(prep.base, shared=0)
    batch, pos = task.clean_tokens.shape
    chunk = chunk or max(1, min(512, rows_per_chunk(model, batch, pos)))
    delta = runs.delta.permute(2, 0, 1, 3)  # [n_sources, batch, pos, d]
    resid = [runs.x_base]  # the base residual stream before each reader group
    for layer in range(g.n_layers):
        mid = resid[-1] + runs.base.heads[layer].sum(2) + f.layers[layer].b_o
        resid += [mid, mid + runs.base.mlps[layer]]
    groups: list[tuple[int, str, list[int]]] = []  # (layer, reader kind, destinations)
    for layer in range(g.n_layers):
        for x in "qkv":
            groups.append((layer, x, [g.head_destination(layer, h, x) for h in range(g.n_heads)]))
        groups.append((layer, "mlp", [g.mlp_destination(layer)]))
    groups.append((g.n_layers - 1, "logits", [g.logits_destination]))
    effect = torch.zeros(g.real.shape)
    real = torch.as_tensor(g.real if only is None else g.real & np.asarray(only, dtype=bool))
    todo = []
    for layer, kind, dests in groups:
        pairs = [(int(s), d) for d in dests for s in torch.nonzero(real[:, d])[:, 0]]
        todo += [(layer, kind, dests, pairs[i : i + chunk]) for i in range(0, len(pairs), chunk)]
    readout = runs.readout
    for layer, kind, dests, pairs in progress(todo, desc="exact edges", disable=None):
        src = torch.tensor([s for s, _ in pairs])
        d_in = delta[src.to(delta.device)]  # [n, batch, pos, d]
        n = len(pairs)
        if kind in "qkv":
            lyr = f.layers[layer]
            heads = torch.tensor([dests.index(d) for _, d in pairs])
            x = lyr.ln1(resid[2 * layer][None] + d_in)
            i = "qkv".index(kind)
            w, b = lyr.w_qkv[i][heads], lyr.b_qkv[i][heads]  # [n, d, dh], [n, dh]
            source = (torch.einsum("nbpd,nde->nbpe", x, w) + b[:, None, None])[:, :, :, None]
            mask = torch.nn.functional.one_hot(heads, g.n_heads).bool()
            patch = Patch(head_name(layer, kind), source, mask[:, None, None, :, None], True)
        elif kind == "mlp":
            lyr = f.layers[layer]
            source = lyr.mlp_in(lyr.ln2(resid[2 * layer + 1][None] + d_in))
            ones = torch.ones(1, 1, 1, 1, dtype=torch.bool)
            patch = Patch(mlp_name(layer, "pre"), source, ones, True)
        else:
            source = resid[-1][None] + d_in
            ones = torch.ones(1, 1, 1, 1, dtype=torch.bool)
            patch = Patch(resid_name(layer, "post"), source, ones, True)
        out, _ = patched_forward(model, base, [patch], n, start_layer=layer,
                                 readout=readout.positions, columns=readout.columns())  # fmt: skip
        values = readout.read(out).view(n, -1).float().mean(1).cpu() - runs.base_value
        effect[src, torch.tensor([d for _, d in pairs])] = values
    return effect


def edge_scores(
    model: Any,
    task: Any,
    method: str = "eap",
    *,
    metric: MetricLike = "logit_diff",
    ablation: str = "patching",
    ig_steps: int = 5,
    direction: str = "noising",
    chunk: int | None = None,
    runs: EdgeRuns | None = None,
) -> Circuit:
    """Score every edge of ``model``'s graph on ``task`` with ``method`` (``"eap"``,
    ``"eap-ig"``, ``"exact"``); returns a :class:`~interp.methods.graph.Circuit` with the
    scores and no edge kept yet (select with ``.top_n(n)``). ``direction="denoising"``
    scores restoring each edge's clean value in the corrupted run instead.

    >>> import interp
    >>> from interp.methods.edges import edge_scores
    >>> model = interp.load("reference:ioi")
    >>> task = interp.ioi_task(model, n_prompts=4)
    >>> circuit = edge_scores(model, task, "eap")
    >>> circuit.n_edges, circuit.top_n(20).n_kept <= 20
    (1997, True)
    """
    if method not in METHODS:
        raise InterpError(f"unknown edge method {method!r}; choose one of {METHODS}")
    began = time.perf_counter()
    runs = runs or prepare_edge_runs(model, task, metric, ablation, direction)
    if method == "exact":
        effect = exact_effects(model, task, runs, chunk)
    else:
        effect = eap_effects(runs, ig_steps, integrated=method == "eap-ig")
    graph = EdgeGraph.of(model)
    scores = importance_sign(runs.readout, runs.direction) * effect.detach().float().cpu().numpy()
    from interp.core.models import record_of

    try:
        name = record_of(model).name
    except InterpError:
        name = type(model).__name__
    return Circuit.from_scores(
        graph,
        np.where(graph.real, scores, np.nan),
        method=method,
        metric=runs.readout.name,
        ablation=runs.ablation,
        direction=runs.direction,
        n_prompts=int(task.n_prompts),
        model=name,
        seconds=time.perf_counter() - began,
    )


def transformer_lens_eap(model: Any, task: Any) -> Float[Tensor, "n_sources n_destinations"]:
    """transformer-lens 4.3's own edge attribution patching
    (``tools.analysis.attribution_patching``, ``granularity="edge"``) on the same prompts,
    summed over positions into this graph's ``[source, destination]`` matrix: the
    reference :func:`eap_effects` is checked against (denoising, the gradient at the
    corrupted run, as transformer-lens computes it; logit difference at END). It runs one
    prompt at a time and one Python step per edge and position: slow by design."""
    from transformer_lens.tools.analysis import attribution_patching as tl

    g = EdgeGraph.of(model)
    config = tl.EdgeAttributionConfig(granularity="edge")
    total = torch.zeros(g.real.shape, dtype=torch.float64)

    def source(node: Any) -> int:
        if node.kind == "embed":
            return 0
        if node.kind == "attn_head_out":
            return g.head_source(node.layer, node.head)
        return g.mlp_source(node.layer)

    def destination(node: Any) -> int:
        if node.kind in ("q_input", "k_input", "v_input"):
            return g.head_destination(node.layer, node.head, node.kind[0])
        if node.kind == "mlp_in":
            return g.mlp_destination(node.layer)
        return g.logits_destination

    for i in range(task.n_prompts):
        end = int(task.end[i])
        answer, wrong = int(task.answer_ids[i]), int(task.wrong_ids[i])

        def metric(logits: Tensor, end: int = end, a: int = answer, w: int = wrong) -> Tensor:
            return logits[0, end, a] - logits[0, end, w]

        result = tl.attribution_patch(
            model, task.clean_tokens[i : i + 1], task.corrupted_tokens[i : i + 1], metric, config
        )
        for (writer, reader), value in result.edge_scores.items():
            total[source(writer), destination(reader)] += value
    return (total / task.n_prompts).float()
