"""IOI circuit discovery in the order of Wang et al. 2022, and its evaluation.

Discovery (:func:`discover_ioi_circuit`) measures, each step reading the heads the previous
one found, and :func:`classify` then decides every head's class from those measurements
alone (a pure function: rerun at other thresholds without a forward pass,
:meth:`IOICircuit.sensitivity`):

1. **Direct logit attribution** of every head at END on IO − S. A head writing at least
   ``dla`` x the clean logit difference whose attention from END reaches a name (IO, S1 or
   S2) at ``pattern`` or more is a *name-mover candidate*; at most −``dla`` x, with the
   same attention, a *negative name mover*. A head with that direct effect but no such
   attention is *uncorroborated*: it gets a class only from another step's evidence, else
   joins as ``unclassified``.
2. **Name-mover knockout** (Wang et al.'s backup name movers): each candidate's DLA with
   the *other* candidates mean-ablated at END (ABC means per template and position), and
   every other head's DLA with all candidates ablated. A head whose DLA rises by at least
   ``backup`` x the clean logit difference (and writes +IO − S after the knockout) is a
   *backup name mover*, even when it also writes directly: a candidate that compensates
   for the others is a backup, not a name mover (the strongest candidate stays a name
   mover if all of them rise). The candidates that do not rise are the *name movers*.
3. **Path patching into the name movers' queries** at END (senders from the ABC run, all
   other heads frozen): heads whose path lowers the logit difference by at least ``path`` of
   the clean−corrupted gap are *S-inhibition* heads (corroborated when they attend from END
   to S2 at ``pattern`` or more).
4. **Path patching into the S-inhibition heads' values**: the heads found write the
   "duplicated name" signal; each is an *induction* head if its attention from S2 to S1+1
   reaches ``pattern`` and beats its attention S2 -> S1 by ``pattern_margin``, a
   *duplicate-token* head the other way round, and ``unclassified`` (ambiguous) otherwise.
5. **Path patching into the induction heads' keys**: *previous-token* heads (corroborated
   when they attend p -> p−1 at ``pattern`` or more).
6. **Heads no class explains** (``complete=True``, the default): path patching into the
   name movers' keys and values at every position (a sender that writes a name's identity
   where the name mover reads it), then every head's own mean ablation (ABC means, every
   position); a head moving the logit difference by at least ``ablation`` x the clean LD
   joins the circuit as ``unclassified``, so faithfulness is judged on a complete circuit.

Every relative bar has an absolute floor in logits (``Thresholds.*_floor``): the bar is the
larger of the two. Every head's evidence records the value, the bar and its margin from it
(same unit; > 0 passes), and the attention score that corroborates its class with that
score's own bar and margin (``pattern_*``; ``corroborated``). Each (negative) name mover
records the name position it attends to from END (``attends_to``: IO, S1 or S2: a trained
model may read S2 and write −S).

:meth:`IOICircuit.sensitivity` reclassifies at every causal bar (``dla``, ``path``,
``backup``, ``ablation`` and their floors) scaled x0.5, x0.75, x1.5 and x2 and lists the heads
each scale adds or removes per class. It reuses the measured scores: the path-patching
receivers and the knocked-out name movers stay those found at x1.

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
#: the factors :meth:`IOICircuit.sensitivity` scales every causal bar by
SENSITIVITY_SCALES = (0.5, 0.75, 1.5, 2.0)


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
    #: attention score that corroborates a class (name movers: from END to the name they
    #: move; S-inhibition: END -> S2; induction: S2 -> S1+1; duplicate-token: S2 -> S1;
    #: previous-token: p -> p-1); a (negative) name mover below it is not one
    pattern: float = 0.3
    #: how much more an induction head must attend S2 -> S1+1 than S2 -> S1 (and a
    #: duplicate-token head the other way round); closer than this, the head is ambiguous
    pattern_margin: float = 0.1
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

    #: the causal bars :meth:`scaled` multiplies (attention bars and the gate stay)
    CAUSAL: ClassVar[tuple[str, ...]] = (
        "dla", "path", "backup", "ablation",
        "dla_floor", "path_floor", "backup_floor", "ablation_floor",
    )  # fmt: skip

    def scaled(self, factor: float) -> Thresholds:
        """These thresholds with every causal bar (:attr:`CAUSAL`) times ``factor``.

        >>> Thresholds().scaled(2.0).dla, Thresholds().scaled(2.0).pattern
        (0.2, 0.3)
        """
        return dataclasses.replace(self, **{k: getattr(self, k) * factor for k in self.CAUSAL})


def thresholds_from(values: Mapping[str, Any]) -> Thresholds:
    """:class:`Thresholds` from a stored ``thresholds`` dict (unknown keys ignored, missing
    ones at their defaults: runs stored by older versions).

    >>> thresholds_from({"dla": 0.2, "retired": 1}).dla
    0.2
    """
    known = {f.name for f in dataclasses.fields(Thresholds)}
    fields: dict[str, Any] = {k: v for k, v in values.items() if k in known}
    return Thresholds(**fields)


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
class CircuitScores:
    """Every measurement :func:`classify` reads: ``[layer, head]`` arrays (nan: not
    measured, e.g. a path-patching step with no receivers) and the two logit differences."""

    clean_logit_diff: float
    corrupted_logit_diff: float
    dla: np.ndarray  # mean DLA at END (logits)
    #: DLA with the other name-mover candidates mean-ablated at END (a candidate: the other
    #: candidates; any other head: all of them); nan where not measured
    dla_ablated: np.ndarray
    pp_name_mover_q: np.ndarray  # path patching into the name movers' queries at END
    pp_s_inhibition_v: np.ndarray  # into the S-inhibition heads' values
    pp_induction_k: np.ndarray  # into the induction heads' keys
    pp_name_mover_kv: np.ndarray  # into the name movers' keys and values, every position
    single_ablation: np.ndarray  # LD change with the head alone mean-ablated
    attn_end_to_io: np.ndarray
    attn_end_to_s1: np.ndarray
    attn_end_to_s2: np.ndarray
    attn_s2_to_s1: np.ndarray
    attn_s2_to_s1_plus_1: np.ndarray
    attn_previous_token: np.ndarray
    #: the logit difference with every name-mover candidate mean-ablated at END
    logit_diff_ablated: float = math.nan

    def empty(self) -> np.ndarray:
        return np.full(self.dla.shape, np.nan)


def _end_source(s: CircuitScores, head: Head) -> tuple[str, float]:
    """The name position a head attends to most from END, and that attention."""
    scores = {
        "IO": float(s.attn_end_to_io[head]),
        "S1": float(s.attn_end_to_s1[head]),
        "S2": float(s.attn_end_to_s2[head]),
    }
    best = max(scores, key=lambda k: scores[k])
    return best, scores[best]


def _pattern(cls: str, s: CircuitScores, head: Head, t: Thresholds) -> dict[str, Any]:
    """The attention score that corroborates ``cls`` for ``head``: its name, value, bar,
    margin (> 0 passes) and ``corroborated``; backups and unclassified heads have none (their
    evidence is causal)."""
    if cls in ("name_mover", "negative_name_mover"):
        source, value = _end_source(s, head)
        name = f"END->{source}"
    elif cls == "s_inhibition":
        name, value = "END->S2", float(s.attn_end_to_s2[head])
    elif cls == "induction":
        name, value = "S2->S1+1", float(s.attn_s2_to_s1_plus_1[head])
    elif cls == "duplicate_token":
        name, value = "S2->S1", float(s.attn_s2_to_s1[head])
    elif cls == "previous_token":
        name, value = "p->p-1", float(s.attn_previous_token[head])
    else:
        return {"pattern": "n/a", "corroborated": True}
    margin = value - t.pattern
    return {
        "pattern": name,
        "pattern_value": value,
        "pattern_bar": t.pattern,
        "pattern_margin": margin,
        "corroborated": bool(margin >= 0),
    }


def _writer_class(s: CircuitScores, head: Head, t: Thresholds) -> tuple[str, dict[str, Any]]:
    """Induction or duplicate-token, by attention from S2 (to S1+1 or to S1) with a minimum
    (``pattern``) and a margin over the other (``pattern_margin``); ambiguous heads are
    ``unclassified``."""
    induction = float(s.attn_s2_to_s1_plus_1[head])
    duplicate = float(s.attn_s2_to_s1[head])
    cls = "induction" if induction > duplicate else "duplicate_token"
    best, other = max(induction, duplicate), min(induction, duplicate)
    margin = min(best - t.pattern, best - other - t.pattern_margin)
    fields = _pattern(cls, s, head, t)
    fields.update(pattern_margin=margin, corroborated=bool(margin >= 0))
    if margin >= 0:
        return cls, fields
    note = (
        f"ambiguous writer: S2->S1+1 {induction:.2f}, S2->S1 {duplicate:.2f} (needs one "
        f">= {t.pattern:.2f} and {t.pattern_margin:.2f} above the other)"
    )
    return UNCLASSIFIED, {**fields, "note": note}


def _movers(s: CircuitScores, t: Thresholds) -> list[Head]:
    """Name-mover candidates: DLA >= the bar and attention from END to a name >= pattern,
    strongest first."""
    scale = abs(s.clean_logit_diff)
    bar = max(t.dla * scale, t.dla_floor)
    heads = [Head(int(lyr), int(h)) for lyr, h in np.argwhere(s.dla >= bar)]
    heads = [hd for hd in heads if _end_source(s, hd)[1] >= t.pattern]
    return sorted(heads, key=lambda hd: -s.dla[hd])


def classify(
    s: CircuitScores, t: Thresholds
) -> tuple[dict[str, list[Head]], dict[str, dict[str, Any]]]:
    """Every head's class from the measured scores ``s`` at thresholds ``t`` (see the
    module docstring): the circuit (class -> heads, :data:`CLASSES` and ``unclassified``)
    and each member's evidence. No forward pass: :func:`discover_ioi_circuit` calls it after
    each step, :meth:`IOICircuit.sensitivity` at scaled thresholds."""
    shape = s.dla.shape
    heads = [Head(lyr, h) for lyr in range(shape[0]) for h in range(shape[1])]
    evidence: dict[str, dict[str, Any]] = {}
    circuit: dict[str, list[Head]] = {c: [] for c in (*CLASSES, UNCLASSIFIED)}
    scale = abs(s.clean_logit_diff)

    def assign(cls: str, head: Head, step: str, **fields: Any) -> None:
        if _key(head) in evidence:
            return  # classified by an earlier step
        layer, h = head
        pattern = fields.pop("pattern_fields", None) or _pattern(cls, s, head, t)
        circuit[cls].append(head)
        evidence[_key(head)] = {
            "class": cls,
            "step": step,
            **{k: v if isinstance(v, str) else float(v) for k, v in fields.items()},
            **pattern,
            "attn_end_to_io": float(s.attn_end_to_io[layer, h]),
            "attn_end_to_s": float(s.attn_end_to_s1[layer, h] + s.attn_end_to_s2[layer, h]),
            "attn_s2_to_s1": float(s.attn_s2_to_s1[layer, h]),
            "attn_s2_to_s1_plus_1": float(s.attn_s2_to_s1_plus_1[layer, h]),
            "attn_previous_token": float(s.attn_previous_token[layer, h]),
        }
        if cls in ("name_mover", "negative_name_mover"):
            source, value = _end_source(s, head)
            evidence[_key(head)].update(attends_to=source, attn_end_max=value)

    # 1-2. direct writers; candidates that rise when the others are knocked out are backups
    dla = s.dla
    dla_bar = max(t.dla * scale, t.dla_floor)  # logits
    backup_bar = max(t.backup * scale, t.backup_floor)
    rise = s.dla_ablated - dla  # logits (nan: not measured)
    with np.errstate(invalid="ignore"):
        rises = (rise >= backup_bar) & (s.dla_ablated > 0)
    movers = _movers(s, t)
    primary = [hd for hd in movers if not rises[hd]] or movers[:1]
    writers = sorted([hd for hd in heads if abs(dla[hd]) >= dla_bar], key=lambda hd: -abs(dla[hd]))
    for head in writers:
        value = float(dla[head])
        common = dict(
            dla=value, dla_fraction=value / scale if scale > 0 else 0.0, value=value,
            margin=abs(value) - dla_bar, unit="logits (DLA at END)",
        )  # fmt: skip
        if value > 0 and head in primary:
            assign("name_mover", head, "dla", threshold=t.dla, bar=dla_bar, **common)
        elif value < 0 and _end_source(s, head)[1] >= t.pattern:
            assign("negative_name_mover", head, "dla", threshold=-t.dla, bar=-dla_bar, **common)
    for head in sorted(heads, key=lambda hd: -np.nan_to_num(rise[hd], nan=-np.inf)):
        if rises[head] and head not in primary:
            extra = {"note": f"also writes directly: DLA {dla[head]:.2f} >= {dla_bar:.2f}"}
            assign(
                "backup_name_mover", head, "name_mover_ablation", dla=dla[head],
                dla_ablated=s.dla_ablated[head], dla_rise_fraction=rise[head] / scale,
                threshold=t.backup, logit_diff_ablated=s.logit_diff_ablated, bar=backup_bar,
                value=rise[head], margin=rise[head] - backup_bar, unit="logits (DLA rise)",
                **(extra if abs(dla[head]) >= dla_bar else {}),
            )  # fmt: skip

    # 3-5. senders found by path patching (fractions of the clean - corrupted gap)
    gap = abs(s.clean_logit_diff - s.corrupted_logit_diff)
    path_bar = max(t.path, t.path_floor / gap) if gap > 0 else math.inf

    def senders(effect: np.ndarray, cls_of, step: str) -> None:
        effect = np.nan_to_num(effect)
        for head in sorted(heads, key=lambda hd: effect[hd]):
            if effect[head] <= -path_bar:
                cls, pattern = cls_of(head)
                assign(
                    cls, head, step, path_effect=effect[head], threshold=-t.path,
                    bar=-path_bar, value=effect[head], margin=-effect[head] - path_bar,
                    unit="fraction of the clean - corrupted gap", pattern_fields=pattern,
                )  # fmt: skip

    def fixed(cls: str):
        return lambda head: (cls, _pattern(cls, s, head, t))

    senders(s.pp_name_mover_q, fixed("s_inhibition"), "nm_queries")
    senders(s.pp_s_inhibition_v, lambda head: _writer_class(s, head, t), "s_inhibition_values")
    senders(s.pp_induction_k, fixed("previous_token"), "induction_keys")

    # direct writers no step corroborated: members, but of no paper class
    for head in writers:
        source, value = _end_source(s, head)
        note = f"uncorroborated: attends from END to no name >= {t.pattern:.2f} ({source} "
        note += f"{value:.2f} at most)"
        assign(
            UNCLASSIFIED, head, "dla", dla=dla[head], threshold=t.dla, value=dla[head],
            bar=dla_bar if dla[head] > 0 else -dla_bar, margin=abs(dla[head]) - dla_bar,
            unit="logits (DLA at END)", note=note,
            pattern_fields=_pattern("name_mover", s, head, t),
        )  # fmt: skip

    # 6. heads the paper's classes miss (a trained model need not split its work the paper's
    # way): senders into the name movers' keys and values, then heads whose own mean
    # ablation moves the logit difference
    senders(s.pp_name_mover_kv, fixed(UNCLASSIFIED), "nm_keys_values")
    single = s.single_ablation
    ablation_bar = max(t.ablation * scale, t.ablation_floor)
    for head in sorted(heads, key=lambda hd: -abs(np.nan_to_num(single[hd]))):
        if abs(np.nan_to_num(single[head])) >= ablation_bar:
            assign(
                UNCLASSIFIED, head, "single_ablation", ablation_effect=single[head],
                threshold=t.ablation, bar=ablation_bar, value=single[head],
                margin=abs(single[head]) - ablation_bar,
                unit="logits (|LD change|, head mean-ablated)",
            )  # fmt: skip
    return circuit, evidence


def _as_lists(circuit: Mapping[str, Sequence[Head]]) -> dict[str, list[list[int]]]:
    found = {c: sorted([list(h) for h in circuit.get(c, [])]) for c in CLASSES}
    if circuit.get(UNCLASSIFIED):
        found[UNCLASSIFIED] = sorted([list(h) for h in circuit[UNCLASSIFIED]])
    return found


def circuit_changes(
    base: Mapping[str, Sequence], other: Mapping[str, Sequence]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Heads ``other`` adds and removes per class, relative to ``base`` (``"L.H"`` keys).

    >>> circuit_changes({"name_mover": [[6, 1]]}, {"name_mover": [[6, 1], [7, 0]]})
    ({'name_mover': ['7.0']}, {})
    """
    added: dict[str, list[str]] = {}
    removed: dict[str, list[str]] = {}
    for cls in (*CLASSES, UNCLASSIFIED):
        a = {parse_head(h) for h in base.get(cls, [])}
        b = {parse_head(h) for h in other.get(cls, [])}
        if b - a:
            added[cls] = [h.key for h in sorted(b - a)]
        if a - b:
            removed[cls] = [h.key for h in sorted(a - b)]
    return added, removed


def sensitivity_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows of :meth:`IOICircuit.sensitivity` as text: one line per scale.

    >>> print(sensitivity_table([{"scale": 2.0, "n_heads": 1, "added": {},
    ...                           "removed": {"name_mover": ["6.3"]}}]).splitlines()[-1])
      x2     1      - name_mover 6.3
    """
    lines = [
        "threshold sensitivity (every causal bar x scale; scores reused, path-patching "
        "receivers and knocked-out name movers as found at x1)",
        f"  {'scale':<6} {'heads':<6} changes against x1",
    ]
    for row in rows:
        changes = [f"+ {c} {', '.join(h)}" for c, h in row.get("added", {}).items()]
        changes += [f"- {c} {', '.join(h)}" for c, h in row.get("removed", {}).items()]
        scale = f"x{row['scale']:g}"
        lines.append(f"  {scale:<6} {row['n_heads']:<6} {'; '.join(changes) or 'none'}")
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
    #: [layer, head] the same with the other name-mover candidates mean-ablated at END
    dla_ablated: np.ndarray
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
    #: [layer, head] attention END -> S1 and END -> S2 (their sum is ``attn_end_to_s``)
    attn_end_to_s1: np.ndarray | None = None
    attn_end_to_s2: np.ndarray | None = None
    logit_diff_ablated: float = math.nan

    def heads(self, cls: str | None = None) -> list[Head]:
        classes = (*CLASSES, UNCLASSIFIED) if cls is None else (cls,)
        return [parse_head(h) for c in classes for h in self.circuit.get(c, [])]

    def class_of(self, head: HeadLike) -> str | None:
        return self.evidence.get(_key(head), {}).get("class")

    def table(self) -> str:
        """The circuit as a plain-text table: class -> heads."""
        return circuit_table(self.circuit)

    def scores(self) -> CircuitScores:
        """The measurements the classification read (for :func:`classify`)."""
        nan = np.full(self.dla.shape, np.nan)
        pick = lambda a: nan if a is None else np.asarray(a, dtype=float)  # noqa: E731
        s1 = self.attn_end_to_s1 if self.attn_end_to_s1 is not None else self.attn_end_to_s
        s2 = self.attn_end_to_s2 if self.attn_end_to_s2 is not None else nan * 0
        return CircuitScores(
            clean_logit_diff=self.clean_logit_diff,
            corrupted_logit_diff=self.corrupted_logit_diff,
            dla=pick(self.dla),
            dla_ablated=pick(self.dla_ablated),
            pp_name_mover_q=pick(self.pp_name_mover_q),
            pp_s_inhibition_v=pick(self.pp_s_inhibition_v),
            pp_induction_k=pick(self.pp_induction_k),
            pp_name_mover_kv=pick(self.pp_name_mover_kv),
            single_ablation=pick(self.single_ablation),
            attn_end_to_io=pick(self.attn_end_to_io),
            attn_end_to_s1=pick(s1),
            attn_end_to_s2=np.nan_to_num(pick(s2)),
            attn_s2_to_s1=pick(self.attn_s2_to_s1),
            attn_s2_to_s1_plus_1=pick(self.attn_s2_to_s1_plus_1),
            attn_previous_token=pick(self.attn_previous_token),
            logit_diff_ablated=self.logit_diff_ablated,
        )

    def reclassify(self, thresholds: Thresholds) -> dict[str, list[list[int]]]:
        """The circuit these scores give at other ``thresholds`` (no forward pass)."""
        return _as_lists(classify(self.scores(), thresholds)[0])

    def sensitivity(self, scales: Sequence[float] = SENSITIVITY_SCALES) -> list[dict[str, Any]]:
        """The circuit with every causal bar scaled (see the module docstring), one row per
        scale (x1 included): the number of heads and the heads added / removed per class.

        >>> from interp.core.models import load
        >>> from interp.tasks.ioi import ioi_task
        >>> model = load("reference:ioi")
        >>> found = discover_ioi_circuit(model, ioi_task(model, 8), progress_desc=False)
        >>> [(r["scale"], r["n_heads"]) for r in found.sensitivity()][:3]
        [(0.5, 13), (0.75, 13), (1.0, 13)]
        """
        base = thresholds_from(self.thresholds)
        rows = []
        for scale in sorted({*scales, 1.0}):
            other = self.reclassify(base.scaled(scale))
            added, removed = circuit_changes(self.circuit, other)
            n = sum(len(v) for v in other.values())
            rows.append({"scale": float(scale), "n_heads": n, "added": added, "removed": removed})
        return rows

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
    return dla.float().cpu().numpy(), task.metric(logits).item()


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


def name_mover_knockout(
    model: Model, task, movers: Sequence[Head], dla: np.ndarray
) -> tuple[np.ndarray, float]:
    """DLA with the other name-mover candidates mean-ablated at END (ABC means): for each
    of ``movers``, with the others ablated (nan when it is the only one); for every other
    head, with all of them ablated. Also the logit difference with all of them ablated."""
    if not movers:
        return np.full(dla.shape, np.nan), math.nan
    means = abc_means(model, task, sorted({hd.layer for hd in movers}))
    out, ablated_ld = direct_logit_attribution(
        model, task, mean_ablation_interventions(task, movers, means, "END")
    )
    out = out.astype(float)
    for head in movers:
        others = [hd for hd in movers if hd != head]
        if not others:
            out[head] = np.nan
            continue
        loo, _ = direct_logit_attribution(
            model, task, mean_ablation_interventions(task, others, means, "END")
        )
        out[head] = loo[head]
    return out, ablated_ld


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
    nan = np.full(dla.shape, np.nan)
    scores = CircuitScores(
        clean_logit_diff=clean_ld, corrupted_logit_diff=corrupted_ld, dla=dla.astype(float),
        dla_ablated=nan, pp_name_mover_q=nan, pp_s_inhibition_v=nan, pp_induction_k=nan,
        pp_name_mover_kv=nan, single_ablation=nan, attn_end_to_io=attn.end_to_io,
        attn_end_to_s1=attn.end_to_s1, attn_end_to_s2=attn.end_to_s2,
        attn_s2_to_s1=attn.s2_to_s1, attn_s2_to_s1_plus_1=attn.s2_to_s1_plus_1,
        attn_previous_token=attn.previous_token,
    )  # fmt: skip
    ablated, ablated_ld = name_mover_knockout(model, task, _movers(scores, t), scores.dla)
    scores = dataclasses.replace(scores, dla_ablated=ablated, logit_diff_ablated=ablated_ld)
    desc = "path patching" if progress_desc else None

    def path_step(field: str, cls: str, inputs: str, positions: str | None, step: str):
        nonlocal scores
        receivers = classify(scores, t)[0][cls]
        if not receivers:
            return
        result = path_patch(
            model, task, receivers, inputs, positions, desc=desc and f"{desc} -> {step}"
        )
        effect: Any = np.asarray(result.effect, dtype=float)
        scores = dataclasses.replace(scores, **{field: effect})

    path_step("pp_name_mover_q", "name_mover", "q", "END", "nm_queries")
    path_step("pp_s_inhibition_v", "s_inhibition", "v", None, "s_inhibition_values")
    path_step("pp_induction_k", "induction", "k", None, "induction_keys")
    if complete:
        # heads the paper's classes miss: senders into the name movers' keys and values at
        # every position, then every head's own mean ablation
        path_step("pp_name_mover_kv", "name_mover", "kv", None, "nm_keys_values")
        heads = [Head(lyr, h) for lyr in range(dla.shape[0]) for h in range(dla.shape[1])]
        means_all = abc_means(model, task)
        keep: list[dict[HeadLike, str | None]] = [
            {o: None for o in heads if o != hd} for hd in heads
        ]
        sweep_desc = "single-head ablation" if progress_desc else None
        values = ablation_sweep(model, task, keep, means_all, sweep_desc)
        single = (values - clean_ld).reshape(dla.shape).astype(float)
        scores = dataclasses.replace(scores, single_ablation=single)
    circuit, evidence = classify(scores, t)
    return IOICircuit(
        circuit=_as_lists(circuit),
        evidence=evidence,
        thresholds=dataclasses.asdict(t),
        clean_logit_diff=clean_ld,
        corrupted_logit_diff=corrupted_ld,
        n_prompts=task.n_prompts,
        dla=dla,
        dla_ablated=scores.dla_ablated,
        pp_name_mover_q=scores.pp_name_mover_q,
        pp_s_inhibition_v=scores.pp_s_inhibition_v,
        pp_induction_k=scores.pp_induction_k,
        attn_end_to_io=attn.end_to_io,
        attn_end_to_s=attn.end_to_s1 + attn.end_to_s2,
        attn_s2_to_s1=attn.s2_to_s1,
        attn_s2_to_s1_plus_1=attn.s2_to_s1_plus_1,
        attn_previous_token=attn.previous_token,
        pp_name_mover_kv=scores.pp_name_mover_kv,
        single_ablation=scores.single_ablation,
        attn_end_to_s1=attn.end_to_s1,
        attn_end_to_s2=attn.end_to_s2,
        logit_diff_ablated=ablated_ld,
    )


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
    (e.g. :data:`PAPER_POSITIONS`) keeps each class only at its named position.

    The circuit planted in ``reference:ioi`` keeps all of the logit difference when every
    other head is mean-ablated (F(C) / F(M) = 1) and each head clears the 1% minimality
    bar; the name movers alone, cut off from the heads that feed them, do not:

    >>> from interp import ioi_task, load
    >>> model = load("reference:ioi")
    >>> task = ioi_task(model, n_prompts=8)
    >>> planted = {"name_mover": [(6, 1), (6, 3)], "negative_name_mover": [(7, 2)],
    ...            "backup_name_mover": [(7, 0), (7, 3)], "s_inhibition": [(4, 2), (5, 0)],
    ...            "induction": [(3, 1), (3, 3)], "duplicate_token": [(0, 1), (2, 3)],
    ...            "previous_token": [(1, 2), (2, 1)]}
    >>> result = evaluate_circuit(model, task, planted, completeness=False, desc=None)
    >>> round(result.faithfulness, 2), result.minimal
    (1.0, True)
    >>> movers = {"name_mover": [(6, 1), (6, 3)]}
    >>> round(evaluate_circuit(model, task, movers, completeness=False, desc=None).faithfulness, 2)
    -0.48
    """
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
