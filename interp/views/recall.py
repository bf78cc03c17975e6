"""A stored ``capitals`` run (Merullo et al. 2023, Poland -> Warsaw) as rows: the layers,
the o-vector transfer, ablation and in-context results, per pair and for the second
relation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from interp.results.store import RunRecord


# -- recall (Merullo et al. 2023) -------------------------------------------------------------
def layer_label(layer: int | None) -> str:
    return "never" if layer is None else ("embed" if layer < 0 else str(layer))


def recall_rows(run: Any, record: RunRecord) -> list[dict[str, Any]]:
    """A stored capitals run as rows: quantity, measured, and what the reference model
    planted (the mover and capital layers) or, on GPT-2 medium, the paper's numbers."""
    reference = record.model.get("reference") or {}
    planted = {
        "subject top-1 from layer": reference.get("mover_layer"),
        "answer top-1 from layer": reference.get(
            "capital_layer", record.summary.get("planted_layer")
        ),
    }
    paper = record.summary.get("paper")
    paper = paper.get("capital", {}) if isinstance(paper, dict) else {}
    target = run.headline_target
    rows = [
        ("subject top-1 from layer", layer_label(run.subject_layer), "country_layer"),
        ("answer top-1 from layer", layer_label(run.answer_layer), "capital_layer"),
        ("clean accuracy", f"{run.clean_accuracy:.1%}", None),
        (f"transfer accuracy (o_L from {run.headline[0]})", f"{run.transfer_accuracy:.1%}",
         "transfer_accuracy"),
        ("random-vector baseline", f"{run.random_baseline_accuracy:.1%}", None),
        (f"{target[0]} + o_L →", run.headline_transfer_top.strip(), None),
        ("FFN L zero-ablated accuracy", f"{run.ablated_accuracy:.1%}", None),
        ("FFN L mean-ablated accuracy", f"{run.mean_ablated_accuracy:.1%}", None),
        ("fact in context, FFN L ablated", f"{run.in_context_accuracy:.1%}", None),
    ]  # fmt: skip
    out = []
    for label, measured, paper_key in rows:
        row = {"quantity": label, "measured": measured}
        if reference:
            value = planted.get(label)
            row["planted"] = "" if value is None else str(value)
        if paper:
            row["paper (Merullo et al. 2023, GPT-2 medium)"] = (
                paper.get(paper_key, "") if paper_key else ""
            )
        out.append(row)
    return out


def second_relation_rows(run: Any) -> list[dict[str, Any]]:
    """The second relation's headline numbers (past tense by default) as rows."""
    second = getattr(run, "second_relation", None) or {}
    keys = [
        ("subject_layer", "subject top-1 from layer"),
        ("answer_layer", "answer top-1 from layer"),
        ("transfer_accuracy", "transfer accuracy"),
        ("random_baseline_accuracy", "random-vector baseline"),
        ("ablated_accuracy", "FFN L zero-ablated accuracy"),
        ("in_context_accuracy", "fact in context, FFN L ablated"),
        ("headline_transfer_top", "headline transfer"),
    ]
    rows = []
    for key, label in keys:
        if key in second:
            value = second[key]
            shown = f"{value:.1%}" if key.endswith("accuracy") else str(value).strip()
            rows.append({"quantity": label, "measured": shown})
    return rows


def recall_pair_rows(run: Any) -> list[dict[str, Any]]:
    """Per pair: the answer's rank (1 = top) clean, with the o-vector transferred (held-out
    pairs), with FFN L zero- and mean-ablated, and with the fact in context (FFN ablated)."""
    transfer = dict(zip(run.held_out, np.asarray(run.transfer_rank).tolist()))
    rows = []
    for i, (subject, answer) in enumerate(zip(run.subjects, run.answers)):
        rows.append(
            {
                "subject": subject,
                "answer": answer,
                "clean": int(run.clean_rank[i]),
                "o_L transfer": transfer.get(subject),
                "FFN zero-ablated": int(run.ablated_rank[i]),
                "FFN mean-ablated": int(run.mean_ablated_rank[i]),
                "in context, ablated": int(run.in_context_rank[i]),
            }
        )
    return rows
