"""IOI circuit discovery in the order of Wang et al. 2022, and its evaluation.

Discovery (:func:`discover_ioi_circuit`), each step reading the heads the previous one found:

1. **Direct logit attribution** of every head at END on IO − S: heads writing at least
   ``dla`` x the clean logit difference are *name movers*; at most −``dla`` x, *negative
   name movers*.
2. **Path patching into the name movers' queries** at END (senders from the ABC run, all
   other heads frozen): heads whose path lowers the logit difference by at least ``path`` of
   the clean−corrupted gap are *S-inhibition* heads.
3. **Path patching into the S-inhibition heads' values**: the heads found write the
   "duplicated name" signal; each is an *induction* head if it attends from S2 to S1+1 more
   than to S1, else a *duplicate-token* head (attention-pattern evidence).
4. **Path patching into the induction heads' keys**: *previous-token* heads.
5. **Backup name movers**: mean-ablate the name movers at END, where they act (ABC means
   per template and position), and recompute DLA; heads whose DLA rises by at least
   ``backup`` x the clean logit difference compensate. (Ablating them at every position
   also removes what they write at the name positions themselves, which later heads read
   as keys; in ``reference:ioi`` that silences the backups' keys as well.)

Attention scores (END→IO, S2→S1, S2→S1+1, p→p−1) corroborate every class; each head comes
with its evidence and the thresholds used (configurable: the planted model separates
cleanly, real GPT-2 does not).

Evaluation (:func:`evaluate_circuit`), as in the paper: F(X) is the mean logit difference
with every head outside X mean-ablated (ABC means per template and position; MLPs kept).
Faithfulness F(C)/F(M); completeness |F(C\\K) − F(M\\K)| for K = each class and each head;
minimality of head v, max over K of |F(C\\(K∪{v})) − F(C\\K)| / F(M), with K = ∅, v's class
mates, and (for backups) the name movers too — the paper's criterion is ≥ 1% of F(M).
All configurations run as one batched, chunked sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from interp.core.components import Head, heads_text, parse_head
from interp.core.errors import InterpError
from interp.core.hooks import head_name, names_filter
from interp.core.ioi_roles import DISCOVERY_ORDER, POSITIONS
from interp.core.ioi_roles import PAPER_GPT2_SMALL as PAPER_GPT2_SMALL  # re-exported
from interp.methods.attention import IOIAttention, ioi_attention
from interp.methods.patching import BaseRun, Patch, run_patches, source_cache
from interp.methods.path_patching import path_patch
from interp.results.base import Result

if TYPE_CHECKING:
    from interp.core.models import Model


#: the classes in the order the discovery finds them (and tables print them)
CLASSES = DISCOVERY_ORDER
#: where the paper keeps each class (mean-ablated at every other position), for evaluation
PAPER_POSITIONS = POSITIONS


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Classification thresholds (all fractions; recorded with every result)."""

    #: |DLA| of a (negative) name mover, as a fraction of the clean logit difference
    dla: float = 0.1
    #: path-patching effect (fraction of the clean - corrupted gap) a sender must reach
    path: float = 0.05
    #: DLA increase of a backup when the name movers are ablated, fraction of the clean LD
    backup: float = 0.05
    #: attention score that counts as corroborating a class
    pattern: float = 0.3


def _key(head: Any) -> str:
    """A head's key in evidence and minimality tables (``"6.1"``)."""
    return parse_head(head).key


def circuit_table(circuit: Mapping[str, Sequence]) -> str:
    """A circuit (class -> heads in any form) as a plain-text table, one line per class of
    :data:`CLASSES` (``-`` for none), heads in their dotted form.

    >>> print(circuit_table({"name_mover": [[6, 1], [6, 3]]}).splitlines()[1])
    name_mover           6.1, 6.3
    """
    width = max(len(c) for c in CLASSES)
    lines = [f"{'class'.ljust(width)}  heads (layer.head)"]
    for cls in CLASSES:
        lines.append(f"{cls.ljust(width)}  {heads_text(circuit.get(cls, []))}")
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class IOICircuit(Result):
    """The circuit found, each head's evidence, and the arrays behind every step."""

    kind: ClassVar[str] = "ioi_circuit"
    circuit: dict[str, list[list[int]]]
    evidence: dict[str, dict[str, Any]]
    thresholds: dict[str, float]
    clean_logit_diff: float
    corrupted_logit_diff: float
    n_prompts: int
    dla: np.ndarray  # [layer, head] mean DLA at END (logit units)
    dla_ablated: np.ndarray  # [layer, head] the same with the name movers mean-ablated
    pp_name_mover_q: np.ndarray  # [layer, head] path-patching effect (nan: not run)
    pp_s_inhibition_v: np.ndarray
    pp_induction_k: np.ndarray
    attn_end_to_io: np.ndarray
    attn_end_to_s: np.ndarray
    attn_s2_to_s1: np.ndarray
    attn_s2_to_s1_plus_1: np.ndarray
    attn_previous_token: np.ndarray

    def heads(self, cls: str | None = None) -> list[Head]:
        classes = CLASSES if cls is None else (cls,)
        return [parse_head(h) for c in classes for h in self.circuit.get(c, [])]

    def class_of(self, head: Head) -> str | None:
        return self.evidence.get(_key(head), {}).get("class")

    def table(self) -> str:
        """The circuit as a plain-text table: class -> heads."""
        return circuit_table(self.circuit)

    def figure(self):
        from interp.figures.ioi import circuit_figure

        return circuit_figure(self)


def direct_logit_attribution(model: Model, task, interventions=()) -> tuple[np.ndarray, float]:
    """Mean DLA of every head at END on IO − S ([layer, head]) and the mean logit diff, with
    ``interventions`` (interp.core.interventions) applied."""
    from interp.core.interventions import hooks_for
    from interp.methods.dla import cache_names, head_attribution, logit_directions

    names = cache_names(model.cfg.n_layers, heads=True)
    with torch.no_grad(), model.hooks(fwd_hooks=hooks_for(interventions)):
        logits, cache = model.run_with_cache(task.clean_tokens, names_filter=names_filter(names))
        directions = logit_directions(model, task.answer_ids, task.wrong_ids)
        dla = head_attribution(model, cache, directions, task.end).mean(0)
    return dla.cpu().numpy(), task.metric(logits).item()


def abc_means(model: Model, task, layers: Collection[int] | None = None) -> dict[int, torch.Tensor]:
    """Per-template, per-position means of every head's ``z`` over the corrupted (ABC)
    prompts, one row per prompt: ``{layer: [batch, pos, head, d_head]}``."""
    layers = range(model.cfg.n_layers) if layers is None else layers
    names = {head_name(layer, "z") for layer in layers}
    cache = source_cache(model, task.corrupted_tokens, names)
    return {layer: task.mean_by_group(cache[head_name(layer, "z")]) for layer in layers}


def mean_ablation_interventions(
    task, heads: Sequence[Head], means: Mapping[int, torch.Tensor], at: str | None = None
):
    """``Intervention`` s setting each head's output to its ABC mean, at every position or
    only at the task's named position ``at`` (one position per prompt)."""
    from interp.core.components import parse_heads
    from interp.core.interventions import Component, Intervention

    where = None if at is None else task.positions[at]
    return [
        Intervention(Component.of(hd), value=means[hd.layer][:, :, hd.head], at=where)
        for hd in parse_heads(heads)
    ]


def discover_ioi_circuit(
    model: Model, task, thresholds: Thresholds = Thresholds(), progress_desc: bool = True
) -> IOICircuit:
    """Find the IOI circuit's heads by class, in the paper's order (see module docstring).

    >>> from interp.core.models import load
    >>> from interp.tasks.ioi import ioi_task
    >>> from interp.studies.ioi_circuit import discover_ioi_circuit
    >>> model = load("reference:ioi")  # GPT-2 with the circuit planted
    >>> found = discover_ioi_circuit(model, ioi_task(model, 12, seed=1), progress_desc=False)
    >>> found.circuit["name_mover"], found.class_of("L4H2")
    ([[6, 1], [6, 3]], 's_inhibition')
    >>> print(found.table().splitlines()[1])
    name_mover           6.1, 6.3
    """
    from interp.tasks.ioi import check_has_heads

    check_has_heads(model)
    cfg = model.cfg
    shape = (cfg.n_layers, cfg.n_heads)
    nan = np.full(shape, np.nan)
    t = thresholds
    with torch.no_grad():
        corrupted_ld = task.metric(model(task.corrupted_tokens)).item()
    dla, clean_ld = direct_logit_attribution(model, task)
    if clean_ld <= 0:
        raise InterpError(
            f"the model does not prefer IO over S on these prompts (mean logit difference "
            f"{clean_ld:.2f}); there is no IOI behaviour to explain"
        )
    attn: IOIAttention = ioi_attention(model, task)
    evidence: dict[str, dict[str, Any]] = {}
    circuit: dict[str, list[Head]] = {c: [] for c in CLASSES}

    def assign(cls: str, head: Head, step: str, **scores: Any) -> None:
        if _key(head) in evidence:
            return  # classified by an earlier step
        layer, h = head
        circuit[cls].append(head)
        evidence[_key(head)] = {
            "class": cls,
            "step": step,
            **{k: float(v) for k, v in scores.items()},
            "attn_end_to_io": float(attn.end_to_io[layer, h]),
            "attn_end_to_s": float(attn.end_to_s1[layer, h] + attn.end_to_s2[layer, h]),
            "attn_s2_to_s1": float(attn.s2_to_s1[layer, h]),
            "attn_s2_to_s1_plus_1": float(attn.s2_to_s1_plus_1[layer, h]),
            "attn_previous_token": float(attn.previous_token[layer, h]),
        }

    heads = [Head(lyr, h) for lyr in range(cfg.n_layers) for h in range(cfg.n_heads)]
    dla_frac = dla / clean_ld
    for head in sorted(heads, key=lambda lh: -abs(dla_frac[lh])):
        frac = dla_frac[head]
        if frac >= t.dla:
            assign("name_mover", head, "dla", dla=dla[head], dla_fraction=frac, threshold=t.dla)
        elif frac <= -t.dla:
            assign(
                "negative_name_mover", head, "dla", dla=dla[head], dla_fraction=frac,
                threshold=-t.dla,
            )  # fmt: skip

    desc = "path patching" if progress_desc else None

    def path_step(receivers, inputs, positions, cls_of, step):
        if not receivers:
            return nan
        result = path_patch(
            model, task, receivers, inputs, positions, desc=desc and f"{desc} -> {step}"
        )
        effect = np.nan_to_num(result.effect)
        for head in sorted(heads, key=lambda lh: effect[lh]):
            if effect[head] <= -t.path:
                assign(cls_of(head), head, step, path_effect=effect[head], threshold=-t.path)
        return result.effect

    pp_nm = path_step(circuit["name_mover"], "q", "END", lambda h: "s_inhibition", "nm_queries")

    def writer_class(head: Head) -> str:
        induction = attn.s2_to_s1_plus_1[head]
        duplicate = attn.s2_to_s1[head]
        return "induction" if induction > duplicate else "duplicate_token"

    pp_si = path_step(circuit["s_inhibition"], "v", None, writer_class, "s_inhibition_values")
    pp_ind = path_step(
        circuit["induction"], "k", None, lambda h: "previous_token", "induction_keys"
    )

    # backups: DLA increase when the name movers are mean-ablated (ABC means)
    dla_ablated = dla.copy()
    if circuit["name_mover"]:
        means = abc_means(model, task, sorted({lyr for lyr, _ in circuit["name_mover"]}))
        ablate = mean_ablation_interventions(task, circuit["name_mover"], means, "END")
        dla_ablated, ablated_ld = direct_logit_attribution(model, task, ablate)
        rise = (dla_ablated - dla) / clean_ld
        for head in sorted(heads, key=lambda lh: -rise[lh]):
            if rise[head] >= t.backup and head not in circuit["name_mover"]:
                assign(
                    "backup_name_mover", head, "name_mover_ablation",
                    dla=dla[head], dla_ablated=dla_ablated[head], dla_rise_fraction=rise[head],
                    threshold=t.backup, logit_diff_ablated=ablated_ld,
                )  # fmt: skip

    for key, ev in evidence.items():
        ev["corroborated"] = bool(_corroborated(ev["class"], attn, parse_head(key), t.pattern))
    return IOICircuit(
        circuit={c: sorted([list(h) for h in circuit[c]]) for c in CLASSES},
        evidence=evidence,
        thresholds=dataclasses.asdict(t),
        clean_logit_diff=clean_ld,
        corrupted_logit_diff=corrupted_ld,
        n_prompts=task.n_prompts,
        dla=dla,
        dla_ablated=dla_ablated,
        pp_name_mover_q=pp_nm,
        pp_s_inhibition_v=pp_si,
        pp_induction_k=pp_ind,
        attn_end_to_io=attn.end_to_io,
        attn_end_to_s=attn.end_to_s1 + attn.end_to_s2,
        attn_s2_to_s1=attn.s2_to_s1,
        attn_s2_to_s1_plus_1=attn.s2_to_s1_plus_1,
        attn_previous_token=attn.previous_token,
    )


def _corroborated(cls: str, attn: IOIAttention, head: Head, threshold: float) -> bool:
    """Does the head's attention pattern do its class's job?"""
    return bool(_pattern_fits(cls, attn, head, threshold))


def _pattern_fits(cls: str, attn: IOIAttention, head: Head, threshold: float) -> Any:
    if cls in ("name_mover", "negative_name_mover", "backup_name_mover"):
        if cls == "backup_name_mover":
            return True  # idle in the clean run by design: its evidence is the ablation
        return attn.end_to_io[head] > attn.end_to_s1[head] + attn.end_to_s2[head]
    if cls == "s_inhibition":
        return attn.end_to_s2[head] >= threshold
    if cls == "duplicate_token":
        return attn.s2_to_s1[head] >= threshold
    if cls == "induction":
        return attn.s2_to_s1_plus_1[head] >= threshold
    return attn.previous_token[head] >= threshold  # previous_token


# -- evaluation -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CircuitEvaluation(Result):
    """Faithfulness, completeness and minimality of a circuit under mean ablation."""

    kind: ClassVar[str] = "circuit_evaluation"
    circuit: dict[str, list[list[int]]]
    f_model: float
    f_circuit: float
    faithfulness: float  # F(C) / F(M)
    completeness: dict[str, dict[str, float]]  # K -> f_circuit, f_model, score
    minimality: dict[str, dict[str, Any]]  # "L.H" -> score (fraction of F(M)), k
    minimality_threshold: float
    positions: dict[str, str] | None
    n_prompts: int
    minimality_scores: np.ndarray  # [layer, head] (nan outside the circuit)

    @property
    def minimal(self) -> bool:
        return all(v["score"] >= self.minimality_threshold for v in self.minimality.values())

    def figure(self):
        from interp.figures.ioi import evaluation_figure

        return evaluation_figure(self)


def _circuit_heads(circuit: Mapping[str, Sequence]) -> dict[Head, str]:
    out: dict[Head, str] = {}
    for cls, heads in circuit.items():
        for h in heads:
            out[parse_head(h)] = cls
    return out


def ablation_sweep(
    model: Model,
    task,
    keep: Sequence[Mapping[Head, str | None]],
    means: Mapping[int, torch.Tensor] | None = None,
    desc: str | None = None,
) -> np.ndarray:
    """Mean logit difference with every head mean-ablated except those in ``keep[i]``
    (kept at every position when mapped to None, else only at that named position):
    one batched sweep, one copy per configuration."""
    cfg = model.cfg
    means = means if means is not None else abc_means(model, task)
    n, (batch, seq_len) = len(keep), task.clean_tokens.shape
    device = task.device
    at = {
        name: torch.nn.functional.one_hot(pos, seq_len).bool().to(device)
        for name, pos in task.positions.items()
    }
    patches = []
    for layer in range(cfg.n_layers):
        mask = torch.ones(n, batch, seq_len, cfg.n_heads, dtype=torch.bool, device=device)
        for i, kept in enumerate(keep):
            for (lyr, h), where in kept.items():
                if lyr == layer:
                    mask[i, :, :, h] = False if where is None else ~at[where]
        patches.append(Patch(head_name(layer, "z"), means[layer], mask[..., None]))
    values = run_patches(model, BaseRun.of(model, task.clean_tokens), patches, n,
                         task.readout, desc=desc)  # fmt: skip
    return values.mean(-1).cpu().numpy()


def evaluate_circuit(
    model: Model,
    task,
    circuit: Mapping[str, Sequence],
    positions: Mapping[str, str] | None = None,
    completeness: bool = True,
    minimality: bool = True,
    minimality_threshold: float = 0.01,
    desc: str | None = "circuit evaluation",
) -> CircuitEvaluation:
    """Faithfulness, completeness and minimality (see module docstring). ``positions``
    (e.g. :data:`PAPER_POSITIONS`) keeps each class only at its named position."""
    from interp.tasks.ioi import check_has_heads

    check_has_heads(model)
    members = _circuit_heads(circuit)
    if not members:
        raise InterpError("the circuit is empty; nothing to evaluate")
    cfg = model.cfg
    for hd in members:
        if not (0 <= hd.layer < cfg.n_layers and 0 <= hd.head < cfg.n_heads):
            raise InterpError(f"circuit head {hd.key} is outside {cfg.n_layers}x{cfg.n_heads}")
    everything = [Head(lyr, h) for lyr in range(cfg.n_layers) for h in range(cfg.n_heads)]

    def where(head: Head) -> str | None:
        return None if positions is None else positions.get(members[head])

    def kept_circuit(removed: set[Head]) -> dict[Head, str | None]:
        return {hd: where(hd) for hd in members if hd not in removed}

    def kept_model(removed: set[Head]) -> dict[Head, str | None]:
        return {hd: None for hd in everything if hd not in removed}

    configs: dict[tuple, dict] = {}

    def need(kind: str, removed: set[Head]) -> tuple:
        key = (kind, frozenset(removed))
        if key not in configs:
            configs[key] = (kept_circuit if kind == "C" else kept_model)(removed)
        return key

    need("C", set())
    need("M", set())
    k_sets: dict[str, set[Head]] = {}
    if completeness:
        for cls in CLASSES:
            heads = {hd for hd, c in members.items() if c == cls}
            if heads:
                k_sets[cls] = heads
        for hd in members:
            k_sets[_key(hd)] = {hd}
        for k in k_sets.values():
            need("C", k)
            need("M", k)
    candidates: dict[Head, list[set[Head]]] = {}
    if minimality:
        for hd, cls in members.items():
            mates = {o for o, c in members.items() if c == cls and o != hd}
            ks = [set(), mates]
            if cls == "backup_name_mover":
                ks.append(mates | {o for o, c in members.items() if c == "name_mover"})
            candidates[hd] = ks
            for k in ks:
                need("C", k)
                need("C", k | {hd})
    keys = list(configs)
    means = abc_means(model, task)
    values = dict(zip(keys, ablation_sweep(model, task, [configs[k] for k in keys], means, desc)))
    f_model = float(values[("M", frozenset())])
    f_circuit = float(values[("C", frozenset())])
    if abs(f_model) < 1e-9:
        raise InterpError("the full model's logit difference is 0; faithfulness is undefined")
    complete = {
        name: {
            "f_circuit": float(values[("C", frozenset(k))]),
            "f_model": float(values[("M", frozenset(k))]),
            "score": abs(float(values[("C", frozenset(k))] - values[("M", frozenset(k))])),
        }
        for name, k in k_sets.items()
    }
    minimal: dict[str, dict[str, Any]] = {}
    scores = np.full((cfg.n_layers, cfg.n_heads), np.nan)
    for hd, ks in candidates.items():
        best, best_k = -1.0, []
        for k in ks:
            drop = abs(values[("C", frozenset(k | {hd}))] - values[("C", frozenset(k))])
            if drop / abs(f_model) > best:
                best, best_k = float(drop / abs(f_model)), sorted(_key(x) for x in k)
        minimal[_key(hd)] = {"class": members[hd], "score": best, "k": best_k}
        scores[hd] = best
    return CircuitEvaluation(
        circuit={c: [list(h) for h in hs] for c, hs in circuit.items()},
        f_model=f_model,
        f_circuit=f_circuit,
        faithfulness=f_circuit / f_model,
        completeness=complete,
        minimality=minimal,
        minimality_threshold=minimality_threshold,
        positions=dict(positions) if positions is not None else None,
        n_prompts=task.n_prompts,
        minimality_scores=scores,
    )


def precision_recall(
    found: Mapping[str, Sequence], planted: Mapping[str, Sequence]
) -> dict[str, dict[str, float]]:
    """Per class: precision and recall of the found heads against the planted ones.

    >>> precision_recall({"name_mover": [[6, 1], [6, 2]]}, {"name_mover": ["6.1"]})["name_mover"]
    {'precision': 0.5, 'recall': 1.0}
    """
    from interp.core.components import parse_heads

    out = {}
    for cls in CLASSES:
        f = set(parse_heads(found.get(cls, [])))
        p = set(parse_heads(planted.get(cls, [])))
        tp = len(f & p)
        out[cls] = {
            "precision": tp / len(f) if f else float(not p),
            "recall": tp / len(p) if p else 1.0,
        }
    return out
