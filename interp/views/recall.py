"""A relation-recall run (Merullo et al. 2023, Poland -> Warsaw) as table rows, for the
``capitals`` script and the dashboard alike: the layers, the paper's transfer into unrelated
contexts, the same-template transfer (labelled as *not* the paper's protocol), ablation and
in-context results, per pair and for the second relation.

A row carries a value from the paper only where it measures the quantity the paper reports
(:data:`PAPER_GPT2_MEDIUM`, from ``../shared/PAPERS.md``); where the setting differs
(another prompt template, BOS prepended), :func:`paper_notes` says how.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from interp.results.store import RunRecord


PAPER_LABEL = "paper (Merullo et al. 2023, GPT-2 medium)"
#: published numbers for GPT-2 medium, keyed by the row they belong to (PAPERS.md)
PAPER_GPT2_MEDIUM: dict[str, dict[str, str]] = {
    "capital": {
        "headline_subject_layers": "~14-18",
        "headline_answer_layer": "19 (after FFN 19)",
        "ffn_layer": "19",
        "unrelated_transfer": "21.3%",
        "unrelated_mrr": "rank ~10 -> ~4",
        "unrelated_headline": "Beijing",
    },
    "past_tense": {"ffn_layer": "18", "unrelated_transfer": "7.8%"},
}
#: where our prompts differ from the paper's, per relation
TEMPLATE_NOTES = {
    "capital": "the paper's few-shot prompt has a line break before each 'Q:' and 'A:'; "
    "here they are spaces",
    "past_tense": "the paper's past-tense prompt is 'Today I abandon. Yesterday I abandoned. "
    "Today I abolish. Yesterday I'; this relation's is 'Q: What is the past tense of ...? "
    "A:', so its paper values compare a different prompt",
}
SECTIONS = {
    "lens": "logit lens at the last position (from layer: top-1 in >= 50% of prompts)",
    "paper": "Merullo et al.'s transfer: o replaces FFNs L-1..last in unrelated contexts",
    "same": "same-template last-position transfer (not the paper's protocol)",
    "ablation": "FFN L ablated at the last position",
}


def layer_label(layer: int | None) -> str:
    return "none" if layer is None else ("embed" if layer < 0 else str(layer))


def layer_span(layers: list[int] | None) -> str:
    """``[14, 15, 16]`` -> ``"14-16"``; gaps listed; empty -> ``"none"``."""
    if not layers:
        return "none"
    runs: list[list[int]] = []
    for layer in layers:
        if runs and layer == runs[-1][-1] + 1:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return ", ".join(
        layer_label(r[0]) if len(r) == 1 else f"{layer_label(r[0])}-{r[-1]}" for r in runs
    )


def is_gpt2_medium(model: dict[str, Any]) -> bool:
    """A stored model record with GPT-2 medium's shape (24 layers, width 1024), not built in."""
    return (
        model.get("n_layers") == 24
        and model.get("d_model") == 1024
        and model.get("source") not in ("reference", "trained")
    )


def paper_notes(relation: str, prepend_bos: bool) -> list[str]:
    """How this run's setting differs from the paper's, for the rows that print its values."""
    notes = [TEMPLATE_NOTES[relation]] if relation in TEMPLATE_NOTES else []
    if prepend_bos:
        notes.append(
            "the paper's code tokenises without BOS; this run prepends it (--no-bos for the "
            "paper's setting)"
        )
    return notes


def summary_notes(s: dict[str, Any], paper: bool = False) -> list[str]:
    """Notes under one relation's table (``s``: its ``headline_summary()``): where the
    paper's setting differs (when ``paper``), and when the unrelated contexts already give
    the answer without intervention (then the transfer rate says nothing about o)."""
    notes = (
        paper_notes(str(s.get("relation", "")), bool(s.get("prepend_bos", True))) if paper else []
    )
    unrelated = s.get("unrelated_transfer") or {}
    if unrelated.get("clean_accuracy", 0) >= 0.5:
        notes.append(
            f"the answer is already top-1 in {_pct(unrelated['clean_accuracy'])} of the "
            "unrelated contexts with no intervention: this model applies the relation without "
            "being asked, so the paper's transfer rate cannot show what o adds; compare the "
            "FFNs := 0 control"
        )
    return notes


def recall_notes(run: Any, record: RunRecord) -> list[str]:
    """:func:`summary_notes` of a stored capitals run's first relation."""
    return summary_notes(run.headline_summary(), paper=is_gpt2_medium(record.model))


def _pct(value: Any) -> str:
    return "—" if value is None else f"{100 * float(value):.1f}%"


def _mrr(value: float) -> str:
    return f"{value:.2f} (rank ~{1 / value:.0f})" if value > 0 else f"{value:.2f}"


def relation_rows(
    s: dict[str, Any],
    *,
    planted: dict[str, Any] | None = None,
    paper: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Rows (section, quantity, measured, and ``planted`` / :data:`PAPER_LABEL` when given)
    of one relation's summary (``RelationRecallResult.headline_summary()``; runs stored
    before a quantity existed leave its rows out). ``planted``: the reference model's layers
    (``subject_layer``, ``answer_layer``) and expected answers; ``paper``: a
    :data:`PAPER_GPT2_MEDIUM` entry."""
    src, tgt = s.get("headline") or ["?", "?"], s.get("headline_target") or ["?", "?"]
    u = s.get("unrelated_transfer") or {}
    pct = _pct
    rows: list[tuple[str, str, Any, str]] = [
        ("lens", "subject top-1 from layer",
         layer_label(s.get("subject_layer")), "subject_layer"),
        ("lens", "answer top-1 from layer",
         layer_label(s.get("answer_layer")), "answer_layer"),
    ]  # fmt: skip
    if "headline_subject_layers" in s:
        rows += [
            ("lens", f"{src[0]} prompt: {src[0]} top-1 at layers",
             layer_span(s["headline_subject_layers"]), "headline_subject_layers"),
            ("lens", f"{src[0]} prompt: {src[1]} top-1 from layer",
             layer_label(s.get("headline_answer_layer")), "headline_answer_layer"),
        ]  # fmt: skip
    rows += [
        ("lens", "o-vector from FFN layer", s.get("ffn_layer"), "ffn_layer"),
        ("lens", "clean accuracy (few-shot prompts)", pct(s.get("clean_accuracy")), ""),
    ]
    if u:
        span = layer_span(u.get("layers"))
        rows += [
            ("paper", f"contexts ({u['n_contexts']}): subject top-1, no intervention",
             pct(u["subject_top1"]), ""),
            ("paper", "answer top-1, no intervention", pct(u["clean_accuracy"]), ""),
            ("paper", f"answer top-1, FFNs {span} := o", pct(u["transfer_accuracy"]),
             "unrelated_transfer"),
            ("paper", "answer MRR: no intervention -> o",
             f"{_mrr(u['clean_mrr'])} -> {_mrr(u['transfer_mrr'])}", "unrelated_mrr"),
            ("paper", f"answer top-1, FFNs {span} := 0 / := random (controls)",
             f"{pct(u['zero_accuracy'])} / {pct(u['random_accuracy'])}", ""),
            ("paper", f"{u['headline'][0]} context, FFNs := o ->",
             str(u["headline_transfer_top"]).strip(), "unrelated_headline"),
        ]  # fmt: skip
    rows += [
        ("same", f"answer top-1, o_L (from {src[0]}) into FFN L of the other prompts",
         pct(s.get("transfer_accuracy")), ""),
        ("same", "answer MRR: FFN L ablated -> o_L",
         f"{s.get('ablated_mrr', 0):.2f} -> {s.get('transfer_mrr', 0):.2f}", ""),
        ("same", "random-vector baseline", pct(s.get("random_baseline_accuracy")), ""),
        ("same", f"{tgt[0]} + o_L ->", str(s.get("headline_transfer_top", "")).strip(),
         "headline"),
        ("ablation", "answer top-1, FFN L zero-ablated", pct(s.get("ablated_accuracy")), ""),
        ("ablation", "answer top-1, FFN L mean-ablated", pct(s.get("mean_ablated_accuracy")),
         ""),
        ("ablation", "fact in context, FFN L zero-ablated", pct(s.get("in_context_accuracy")),
         ""),
    ]  # fmt: skip
    out = []
    for section, label, measured, key in rows:
        row: dict[str, Any] = {"section": SECTIONS[section], "quantity": label}
        row["measured"] = "—" if measured is None else str(measured)
        if planted is not None:
            row["planted"] = str(planted.get(key, "")) if key else ""
        if paper is not None:
            row[PAPER_LABEL] = paper.get(key, "") if key else ""
        out.append(row)
    return out


def planted_values(reference: dict[str, Any] | None, s: dict[str, Any]) -> dict[str, Any] | None:
    """What ``reference:recall`` planted, keyed like :func:`relation_rows`' rows (None for
    any other model)."""
    if not reference or reference.get("mover_layer") is None:
        return None
    layer = (reference.get("relation_layers") or {}).get(s.get("relation"))
    if layer is None and s.get("relation") == "capital":
        layer = reference.get("capital_layer")
    target = (s.get("headline_target") or ["", ""])[1]
    unrelated = (s.get("unrelated_transfer") or {}).get("headline") or ["", target]
    mover = reference["mover_layer"]
    return {
        "subject_layer": mover,
        "answer_layer": layer,
        "headline_subject_layers": "" if layer is None else layer_span(list(range(mover, layer))),
        "headline_answer_layer": layer,
        "ffn_layer": layer,
        "headline": target,
        "unrelated_headline": unrelated[1],
    }


def recall_rows(run: Any, record: RunRecord) -> list[dict[str, Any]]:
    """A stored capitals run as rows: quantity, measured, and what the reference model
    planted or, on GPT-2 medium, the paper's numbers (only beside the same quantity)."""
    s = run.headline_summary()
    paper = PAPER_GPT2_MEDIUM.get(run.relation, {}) if is_gpt2_medium(record.model) else None
    return relation_rows(s, planted=planted_values(record.model.get("reference"), s), paper=paper)


def second_relation_rows(run: Any, record: RunRecord | None = None) -> list[dict[str, Any]]:
    """The second relation's rows (past tense by default), as :func:`recall_rows`."""
    second = getattr(run, "second_relation", None) or {}
    if not second:
        return []
    model = record.model if record is not None else {}
    paper = PAPER_GPT2_MEDIUM.get(second.get("relation", ""), {})
    return relation_rows(
        second,
        planted=planted_values(model.get("reference"), second),
        paper=paper if is_gpt2_medium(model) else None,
    )


def recall_pair_rows(run: Any) -> list[dict[str, Any]]:
    """Per pair: the answer's rank (1 = top) clean, with the o-vector transferred in the same
    template (held-out pairs), with FFN L zero- and mean-ablated, with the fact in context
    (FFN ablated), and in the paper's unrelated context before and with o in the FFNs."""
    transfer = dict(zip(run.held_out, np.asarray(run.transfer_rank).tolist()))
    unrelated = getattr(run, "unrelated_transfer", None) or {}
    before = dict(zip(unrelated.get("subjects", []), unrelated.get("clean_rank", [])))
    after = dict(zip(unrelated.get("subjects", []), unrelated.get("transfer_rank", [])))
    rows = []
    for i, (subject, answer) in enumerate(zip(run.subjects, run.answers)):
        row = {
            "subject": subject,
            "answer": answer,
            "clean": int(run.clean_rank[i]),
            "same-template o_L": transfer.get(subject),
            "FFN zero-ablated": int(run.ablated_rank[i]),
            "FFN mean-ablated": int(run.mean_ablated_rank[i]),
            "in context, ablated": int(run.in_context_rank[i]),
        }
        if unrelated:
            row["unrelated context"] = before.get(subject)
            row["unrelated, FFNs := o"] = after.get(subject)
        rows.append(row)
    return rows
