"""Indirect-object identification: trace the circuit end to end (Wang et al. 2022).

On IOI prompts ("When Mary and John went to the store, John gave a drink to" -> " Mary"),
in the paper's order: direct logit attribution finds the (negative) name movers; path
patching into their queries finds the S-inhibition heads; into those heads' values, the
induction and duplicate-token heads; into the induction heads' keys, the previous-token
heads; mean-ablating the name movers reveals the backup name movers. The circuit is then
mean-ablated around (ABC means per template and position) to measure faithfulness F(C)/F(M),
completeness and minimality. Activation-patching heatmaps (residual stream, attention and MLP
outputs, every head), path patching into the logits and attribution patching (beside exact
patching) are stored with the run for the dashboard.

``--model reference:ioi`` (default; ``--placement-seed N`` draws a random placement of the
planted circuit) prints planted vs found heads and per-class precision/recall; with
``--model gpt2-small`` the published circuit is printed beside the measured one.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from interp.core.config import option
from interp.core.errors import InterpError
from interp.experiment import run_script

NAMED_POSITIONS = ["IO", "S1", "S1+1", "S2", "END"]


@dataclass
class Config:
    """Trace the IOI circuit (Wang et al. 2022)."""

    model: str = option("reference:ioi", "model: reference:ioi, gpt2-small, a local directory")
    n_prompts: int = option(30, "number of IOI prompts (ABBA and BABA, the paper's templates)")
    seed: int = option(0, "seed of the prompt sampler")
    device: str = option("auto", "auto, cpu, cuda or mps")
    placement_seed: int | None = option(
        None, "for reference:ioi: plant the circuit at a random placement drawn with this seed"
    )
    dla_threshold: float = option(0.1, "|DLA| of a (negative) name mover, fraction of clean LD")
    path_threshold: float = option(0.05, "path-patching effect, fraction of clean-corrupted gap")
    backup_threshold: float = option(0.05, "DLA rise of a backup name mover, fraction of LD")
    store: bool = option(True, "record the run in the results store (kind 'ioi')")
    json: str | None = option(None, "write the summary JSON to this path")


def model_name(config: Config) -> str:
    from interp.core.models import REFERENCE_PREFIX, parse_reference_name, reference_name

    if config.placement_seed is None:
        return config.model
    if not config.model.startswith(REFERENCE_PREFIX + "ioi"):
        raise InterpError("--placement-seed only applies to --model reference:ioi")
    kind, params = parse_reference_name(config.model)
    return reference_name(kind, **{**params, "placement_seed": config.placement_seed})


def heads_text(heads) -> str:
    return ", ".join(f"{lyr}.{h}" for lyr, h in heads) or "-"


def print_comparison(title: str, left: str, right: str, rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    w1 = max(len(left), *(len(r[1]) for r in rows))
    print(f"\n{title}")
    print(f"  {''.ljust(width)}  {left.ljust(w1)}  {right}")
    for name, a, b in rows:
        print(f"  {name.ljust(width)}  {a.ljust(w1)}  {b}")


def print_paper_comparison(summary: dict[str, Any]) -> None:
    """The published GPT-2 small circuit and numbers (PAPERS.md) beside the measured ones."""
    from interp.studies.ioi_circuit import CLASSES, PAPER_GPT2_SMALL

    circuit = summary["circuit"]
    rows = [(c, heads_text(PAPER_GPT2_SMALL[c]), heads_text(circuit[c])) for c in CLASSES]
    rows += [
        ("logit difference", "3.56", f"{summary['logit_diff']:.2f}"),
        ("IO > S", "99.3%", f"{100 * summary['io_over_s']:.1f}%"),
        ("P(IO)", "0.49", f"{summary['io_prob']:.2f}"),
        ("faithfulness F(C)/F(M)", "87%", f"{100 * summary['faithfulness']:.1f}%"),
    ]
    title = "paper (Wang et al. 2022, GPT-2 small) vs measured"
    print_comparison(title, "paper", "measured", rows)


def main(config: Config) -> dict[str, Any]:
    import numpy as np
    import torch

    from interp.core.models import load
    from interp.methods.attribution import attribution_vs_exact
    from interp.methods.patching import patch_block, patch_heads, patch_resid
    from interp.methods.path_patching import path_patch
    from interp.studies.ioi_circuit import (
        CLASSES,
        Thresholds,
        discover_ioi_circuit,
        evaluate_circuit,
        precision_recall,
    )
    from interp.tasks.ioi import check_has_heads, ioi_task

    start = time.perf_counter()
    name = model_name(config)
    print(f"loading {name} ...", flush=True)
    model = load(name, device=config.device)
    record = model.interp_record
    check_has_heads(model)
    task = ioi_task(model, config.n_prompts, seed=config.seed)
    print(f"{task.n_prompts} prompts, e.g. {task.prompts[0]!r} -> {task.info['io'][0]!r}")
    print(f"  corrupted (ABC): {task.corrupted_prompts[0]!r}", flush=True)

    with torch.no_grad():
        logits = model(task.clean_tokens)
    ld = task.logit_diff(logits)
    final = logits[torch.arange(task.n_prompts), task.end]
    top1 = float((final.argmax(-1) == task.answer_ids).float().mean())
    io_prob = float(final.softmax(-1).gather(1, task.answer_ids[:, None]).mean())
    ld_positive = float((ld > 0).float().mean())

    thresholds = Thresholds(
        dla=config.dla_threshold, path=config.path_threshold, backup=config.backup_threshold
    )
    print("\n[1/4] circuit discovery (DLA, path patching, ablation)", flush=True)
    circuit = discover_ioi_circuit(model, task, thresholds)
    print("[2/4] circuit evaluation (mean ablation over ABC)", flush=True)
    evaluation = evaluate_circuit(model, task, circuit.circuit) if circuit.heads() else None
    print("[3/4] activation patching heatmaps, path patching into the logits", flush=True)
    resid = patch_resid(model, task, positions=NAMED_POSITIONS)
    attn_out = patch_block(model, task, "attn_out", positions=NAMED_POSITIONS)
    mlp_out = patch_block(model, task, "mlp_out", positions=NAMED_POSITIONS)
    heads_out = patch_heads(model, task, "z")
    to_logits = path_patch(model, task, desc="path patching -> logits")
    print("[4/4] attribution patching vs exact patching", flush=True)
    attribution = attribution_vs_exact(model, task, exact=heads_out)

    faithfulness = evaluation.faithfulness if evaluation else float("nan")
    print(f"\nIOI circuit of {record.name} ({task.n_prompts} prompts, seed {config.seed})")
    print(circuit.table())
    print(f"\nmean logit difference IO - S: {circuit.clean_logit_diff:.2f}")
    print(f"IO top-1: {100 * top1:.1f}%   IO > S: {100 * ld_positive:.1f}%   P(IO): {io_prob:.2f}")
    if evaluation:
        print(
            f"faithfulness F(C)/F(M): {100 * faithfulness:.1f}% "
            f"(F(C) {evaluation.f_circuit:.2f}, F(M) {evaluation.f_model:.2f}); "
            f"minimal: {'yes' if evaluation.minimal else 'no'} "
            f"(every head >= {100 * evaluation.minimality_threshold:.0f}% of F(M))"
        )
    print(f"attribution vs exact head patching: r = {attribution.correlation:.3f}")
    print(
        "thresholds: "
        + ", ".join(f"{k} {v}" for k, v in circuit.thresholds.items())
        + " (fractions of the clean logit difference / clean-corrupted gap)"
    )

    summary: dict[str, Any] = {
        "model": record.name,
        "n_prompts": task.n_prompts,
        "seed": config.seed,
        "circuit": circuit.circuit,
        "logit_diff": circuit.clean_logit_diff,
        "corrupted_logit_diff": circuit.corrupted_logit_diff,
        "io_top1": top1,
        "io_over_s": ld_positive,
        "io_prob": io_prob,
        "faithfulness": faithfulness,
        "f_circuit": evaluation.f_circuit if evaluation else None,
        "f_model": evaluation.f_model if evaluation else None,
        "minimality": evaluation.minimality if evaluation else {},
        "completeness": evaluation.completeness if evaluation else {},
        "evidence": circuit.evidence,
        "thresholds": circuit.thresholds,
        "attribution_correlation": attribution.correlation,
        "example_prompt": task.prompts[0],
        "position_labels": NAMED_POSITIONS,
    }
    planted = (record.reference or {}).get("placement") if record.is_reference else None
    if planted:
        scores = precision_recall(circuit.circuit, planted)
        summary["planted"] = planted
        summary["precision_recall"] = scores
        found = {cls: heads_text(circuit.circuit[cls]) for cls in CLASSES}
        width = max(len(v) for v in found.values())
        rows = [
            (
                cls,
                heads_text(planted.get(cls, [])),
                f"{found[cls].ljust(width)}  precision {scores[cls]['precision']:.2f}, "
                f"recall {scores[cls]['recall']:.2f}",
            )
            for cls in CLASSES
        ]
        print_comparison("planted vs found", "planted", "found", rows)
    if {record.name, Path(record.location).name} & {"gpt2-small", "gpt2"}:
        print_paper_comparison(summary)

    arrays = {
        "dla": circuit.dla,
        "dla_ablated": circuit.dla_ablated,
        "pp_logits": to_logits.effect,
        "pp_name_mover_q": circuit.pp_name_mover_q,
        "pp_s_inhibition_v": circuit.pp_s_inhibition_v,
        "pp_induction_k": circuit.pp_induction_k,
        "patch_resid_pre": resid.normalised,
        "patch_attn_out": attn_out.normalised,
        "patch_mlp_out": mlp_out.normalised,
        "patch_head_out": heads_out.normalised,
        "attribution": attribution.attribution,
        "attribution_exact": attribution.exact,
        "attn_end_to_io": circuit.attn_end_to_io,
        "attn_end_to_s": circuit.attn_end_to_s,
        "attn_s2_to_s1": circuit.attn_s2_to_s1,
        "attn_s2_to_s1_plus_1": circuit.attn_s2_to_s1_plus_1,
        "attn_previous_token": circuit.attn_previous_token,
    }
    if evaluation:
        arrays["minimality"] = evaluation.minimality_scores
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    summary["seconds"] = round(time.perf_counter() - start, 1)
    if config.store:
        from interp.results.store import ResultsStore

        with ResultsStore().run(
            "ioi", model=record.to_dict(), config=asdict(config), seed=config.seed
        ) as run:
            run.summary.update(summary)
            run.arrays.update(arrays)
        print(f"\nstored run {run.run_id} (kind 'ioi')")
    print(f"done in {summary['seconds']:.0f} s")
    return summary


if __name__ == "__main__":
    sys.exit(run_script(main, Config))
