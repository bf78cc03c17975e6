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

6. **Heads no class explains** (``complete=True``, the default): path patching into the
   name movers' keys and values at every position (a sender that writes a name's identity
   where the name mover reads it), then every head's own mean ablation (ABC means, every
   position); a head moving the logit difference by at least ``ablation`` x the clean LD
   joins the circuit as ``unclassified``, so faithfulness is judged on a complete circuit.

Every relative bar has an absolute floor in logits (``Thresholds.*_floor``): the bar is the
larger of the two, and every head's evidence records the bar and its margin from it. Each
name mover records the name position it attends to from END (``attends_to``: IO, S1 or S2);
its pattern corroborates it when that attention reaches ``pattern``, whichever name it is.

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
import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from interp.core.components import Head, HeadLike, heads_text, parse_head
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
#: circuit members found by their causal effect alone, fitting no class of the paper
UNCLASSIFIED = "unclassified"
#: where the paper keeps each class (mean-ablated at every other position), for evaluation
PAPER_POSITIONS = POSITIONS


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Classification thresholds (recorded with every result). Each relative bar (a fraction
    of the clean logit difference or of the clean - corrupted gap) has an absolute floor in
    logits beside it: the bar used is the larger of the two, so a model whose logit
    difference is tiny (a random model: 0.02) cannot turn noise into a circuit."""

    #: |DLA| of a (negative) name mover, as a fraction of the clean logit difference
    dla: float = 0.1
    #: path-patching effect (fraction of the clean - corrupted gap) a sender must reach
    path: float = 0.05
    #: DLA increase of a backup when the name movers are ablated, fraction of the clean LD
    backup: float = 0.05
    #: attention score that counts as corroborating a class
    pattern: float = 0.3
    #: absolute floor of a (negative) name mover's |DLA|, in logits: a quarter logit is a
    #: 1.28x change of the odds IO : S, the smallest direct effect worth naming a role for
    dla_floor: float = 0.25
    #: absolute floor of a sender's path-patching effect, in logits of IO - S
    path_floor: float = 0.1
    #: absolute floor of a backup's DLA rise, in logits
    backup_floor: float = 0.1
    #: |change of the logit difference| when one head alone is mean-ablated (ABC means,
    #: every position), fraction of the clean LD, for a head no paper class explains
    ablation: float = 0.1
    #: absolute floor of that change, in logits
    ablation_floor: float = 0.25
    #: gate: fraction of prompts with IO > S the model must reach before discovery runs
    min_io_over_s: float = 0.9
    #: gate: mean clean logit difference (logits) the model must reach: 1 logit is IO
    #: e = 2.7 times as likely as S (GPT-2 small: 3.55, paper); below it the per-head
    #: effects the bars measure are of the order of the prompt-to-prompt noise
    min_logit_diff: float = 1.0
    #: a circuit holding more than this fraction of all heads, and more heads than
    #: ``max_circuit_heads``, is flagged as implausible
    max_circuit_fraction: float = 1 / 3
    #: the size of the paper's whole GPT-2 small circuit (26 heads): a small model may
    #: use a large share of its heads (reference:ioi plants 13 of its 32), so a circuit no
    #: larger than the paper's is not flagged for its share alone
    max_circuit_heads: int = 26


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
    if circuit.get(UNCLASSIFIED):
        lines.append(f"{UNCLASSIFIED.ljust(width)}  {heads_text(circuit[UNCLASSIFIED])}")
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
    #: [layer, head] path patching into the name movers' keys and values at every position
    pp_name_mover_kv: np.ndarray | None = None
    #: [layer, head] change of the logit difference with that head alone mean-ablated
    single_ablation: np.ndarray | None = None

    def heads(self, cls: str | None = None) -> list[Head]:
        classes = (*CLASSES, UNCLASSIFIED) if cls is None else (cls,)
        return [parse_head(h) for c in classes for h in self.circuit.get(c, [])]

    def class_of(self, head: HeadLike) -> str | None:
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
    task, heads: Sequence[HeadLike], means: Mapping[int, torch.Tensor], at: str | None = None
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
    model: Model,
    task,
    thresholds: Thresholds = Thresholds(),
    progress_desc: bool = True,
    force: bool = False,
    complete: bool = True,
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
    if clean_ld <= 0 and not force:
        raise InterpError(
            f"the model does not prefer IO over S on these prompts (mean logit difference "
            f"{clean_ld:.2f}); there is no IOI behaviour to explain (force=True runs anyway)"
        )
    attn: IOIAttention = ioi_attention(model, task)
    evidence: dict[str, dict[str, Any]] = {}
    circuit: dict[str, list[Head]] = {c: [] for c in (*CLASSES, UNCLASSIFIED)}

    def assign(cls: str, head: Head, step: str, **scores: Any) -> None:
        if _key(head) in evidence:
            return  # classified by an earlier step
        layer, h = head
        circuit[cls].append(head)
        evidence[_key(head)] = {
            "class": cls,
            "step": step,
            **{k: v if isinstance(v, str) else float(v) for k, v in scores.items()},
            "attn_end_to_io": float(attn.end_to_io[layer, h]),
            "attn_end_to_s": float(attn.end_to_s1[layer, h] + attn.end_to_s2[layer, h]),
            "attn_s2_to_s1": float(attn.s2_to_s1[layer, h]),
            "attn_s2_to_s1_plus_1": float(attn.s2_to_s1_plus_1[layer, h]),
            "attn_previous_token": float(attn.previous_token[layer, h]),
        }

    heads = [Head(lyr, h) for lyr in range(cfg.n_layers) for h in range(cfg.n_heads)]
    scale = abs(clean_ld)
    dla_bar = max(t.dla * scale, t.dla_floor)  # logits
    dla_frac = dla / scale if scale > 0 else np.zeros(shape)
    for head in sorted(heads, key=lambda lh: -abs(dla[lh])):
        value = float(dla[head])
        if abs(value) >= dla_bar:
            positive = value > 0
            assign(
                "name_mover" if positive else "negative_name_mover", head, "dla",
                dla=value, dla_fraction=dla_frac[head], threshold=t.dla if positive else -t.dla,
                bar=dla_bar if positive else -dla_bar, margin=abs(value) - dla_bar,
                unit="logits (DLA at END)",
            )  # fmt: skip

    desc = "path patching" if progress_desc else None

    gap = abs(clean_ld - corrupted_ld)
    path_bar = max(t.path, t.path_floor / gap) if gap > 0 else math.inf  # fraction of the gap

    def path_step(receivers, inputs, positions, cls_of, step):
        if not receivers:
            return nan
        result = path_patch(
            model, task, receivers, inputs, positions, desc=desc and f"{desc} -> {step}"
        )
        effect = np.nan_to_num(result.effect)
        for head in sorted(heads, key=lambda lh: effect[lh]):
            if effect[head] <= -path_bar:
                assign(
                    cls_of(head), head, step, path_effect=effect[head], threshold=-t.path,
                    bar=-path_bar, margin=-effect[head] - path_bar,
                    unit="fraction of the clean - corrupted gap",
                )  # fmt: skip
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
        rise = dla_ablated - dla  # logits
        backup_bar = max(t.backup * scale, t.backup_floor)
        for head in sorted(heads, key=lambda lh: -rise[lh]):
            if rise[head] >= backup_bar and head not in circuit["name_mover"]:
                assign(
                    "backup_name_mover", head, "name_mover_ablation",
                    dla=dla[head], dla_ablated=dla_ablated[head],
                    dla_rise_fraction=rise[head] / scale, threshold=t.backup,
                    logit_diff_ablated=ablated_ld, bar=backup_bar,
                    margin=rise[head] - backup_bar, unit="logits (DLA rise)",
                )  # fmt: skip

    # heads the paper's classes miss (a trained model need not split its work the paper's
    # way): senders into the name movers' keys and values at every position, then heads
    # whose own mean ablation moves the logit difference; both join as "unclassified"
    pp_kv = nan
    single = nan
    if complete and circuit["name_mover"]:
        pp_kv = path_step(
            circuit["name_mover"], "kv", None, lambda h: UNCLASSIFIED, "nm_keys_values"
        )
    if complete:
        means_all = abc_means(model, task)
        keep: list[dict[HeadLike, str | None]] = [
            {o: None for o in heads if o != hd} for hd in heads
        ]
        sweep_desc = "single-head ablation" if progress_desc else None
        values = ablation_sweep(model, task, keep, means_all, sweep_desc)
        single = (values - clean_ld).reshape(shape)
        ablation_bar = max(t.ablation * scale, t.ablation_floor)
        for head in sorted(heads, key=lambda lh: -abs(single[lh])):
            if abs(single[head]) >= ablation_bar:
                assign(
                    UNCLASSIFIED, head, "single_ablation", ablation_effect=single[head],
                    threshold=t.ablation, bar=ablation_bar,
                    margin=abs(single[head]) - ablation_bar,
                    unit="logits (|LD change|, head mean-ablated)",
                )  # fmt: skip
    for key, ev in evidence.items():
        ev["corroborated"] = bool(_corroborated(ev["class"], attn, parse_head(key), t.pattern))
    for key, ev in evidence.items():
        if ev["class"] in ("name_mover", "negative_name_mover"):
            head = parse_head(key)
            ev["attends_to"], ev["attn_end_max"] = _end_source(attn, head)
    found = {c: sorted([list(h) for h in circuit[c]]) for c in CLASSES}
    if circuit[UNCLASSIFIED]:
        found[UNCLASSIFIED] = sorted([list(h) for h in circuit[UNCLASSIFIED]])
    return IOICircuit(
        circuit=found,
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
        pp_name_mover_kv=pp_kv,
        single_ablation=single,
    )


def _end_source(attn: IOIAttention, head: Head) -> tuple[str, float]:
    """The name position a head attends to most from END, and that attention."""
    scores = {
        "IO": float(attn.end_to_io[head]),
        "S1": float(attn.end_to_s1[head]),
        "S2": float(attn.end_to_s2[head]),
    }
    best = max(scores, key=lambda k: scores[k])
    return best, scores[best]


def _corroborated(cls: str, attn: IOIAttention, head: Head, threshold: float) -> bool:
    """Does the head's attention pattern do its class's job?"""
    return bool(_pattern_fits(cls, attn, head, threshold))


def _pattern_fits(cls: str, attn: IOIAttention, head: Head, threshold: float) -> Any:
    if cls == UNCLASSIFIED:
        return True  # no class to fit: its evidence is causal (path patching, ablation)
    if cls in ("name_mover", "negative_name_mover", "backup_name_mover"):
        if cls == "backup_name_mover":
            return True  # idle in the clean run by design: its evidence is the ablation
        # a mover copies (or suppresses) the name it attends to from END, whichever name
        # position that is (a trained model may read S2 and write -S); see "attends_to"
        return _end_source(attn, head)[1] >= threshold
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
    keep: Sequence[Mapping[HeadLike, str | None]],
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
            for head, where in kept.items():
                hd = parse_head(head)
                if hd.layer == layer:
                    mask[i, :, :, hd.head] = False if where is None else ~at[where]
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
