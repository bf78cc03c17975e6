"""interp.studies.ioi_run: the IOI study as one call returning one stored result (kind "ioi"),
and runs stored by the old experiments/ioi.py (a bare dict) still list, load and draw."""

from __future__ import annotations

import dataclasses
import inspect
import math

import numpy as np
import pytest

from interp.core.models import record_of
from interp.studies.ioi_circuit import CLASSES
from interp.studies.ioi_run import IOIRun, run_ioi
from interp.tasks.ioi import ioi_task

#: what the old experiments/ioi.py wrote (summary keys in order; planted / precision_recall
#: only for reference models), copied from its ``main``
OLD_SUMMARY_KEYS = [
    "model", "n_prompts", "seed", "circuit", "logit_diff", "corrupted_logit_diff", "io_top1",
    "io_over_s", "io_prob", "faithfulness", "f_circuit", "f_model", "minimality",
    "completeness", "evidence", "thresholds", "attribution_correlation", "example_prompt",
    "position_labels", "planted", "precision_recall", "seconds",
]  # fmt: skip
OLD_ARRAY_NAMES = {
    "dla", "dla_ablated", "pp_logits", "pp_name_mover_q", "pp_s_inhibition_v", "pp_induction_k",
    "patch_resid_pre", "patch_attn_out", "patch_mlp_out", "patch_head_out", "attribution",
    "attribution_exact", "attn_end_to_io", "attn_end_to_s", "attn_s2_to_s1",
    "attn_s2_to_s1_plus_1", "attn_previous_token", "minimality",
}  # fmt: skip
#: arrays added since (discovery's keys/values path patching and single-head ablation)
ADDED_ARRAY_NAMES = {"pp_name_mover_kv", "single_ablation"}
#: the paper's paths head to head on the default placement: PT->IND, IND->SI, DT->SI,
#: SI->(NM, backup, negative), then every mover to the logits
ARROWS = 2 * 2 + 2 * 2 + 2 * 2 + 2 * (2 + 2 + 1) + 5


@pytest.fixture(scope="module")
def run(ioi_model):
    return run_ioi(ioi_model, ioi_task(ioi_model, 4, seed=0))


def _sorted(circuit):
    return {c: sorted(map(list, hs)) for c, hs in circuit.items()}


def test_run_ioi_finds_the_planted_circuit_and_measures_it(run, ioi_model):
    planted = record_of(ioi_model).reference["placement"]
    assert run.model == "reference:ioi" and run.n_prompts == 4 and run.seed == 0
    assert _sorted(run.circuit) == _sorted(planted) and list(run.circuit) == list(CLASSES)
    assert run.precision_recall == {c: {"precision": 1.0, "recall": 1.0} for c in CLASSES}
    assert run.logit_diff == pytest.approx(5.18, abs=0.1)
    assert run.corrupted_logit_diff == pytest.approx(0.0, abs=0.5)
    assert run.io_over_s == 1.0 and run.io_top1 == 1.0 and 0.1 < run.io_prob < 0.5
    assert run.faithfulness == pytest.approx(1.0, abs=0.02) and run.minimal
    assert run.attribution_correlation > 0.99  # linear enough on the planted model
    assert run.dla.shape == run.patch_head_out.shape == run.minimality_scores.shape == (8, 4)
    assert run.patch_resid_pre.shape == (8, 5) and run.position_labels == [
        "IO", "S1", "S1+1", "S2", "END",
    ]  # fmt: skip
    # the name movers write the logit difference; nothing else at END comes close
    top2 = {divmod(int(i), 4) for i in np.argsort(run.dla, axis=None)[-2:]}
    assert top2 == {(6, 1), (6, 3)}
    assert run.classes()["6.1"] == "name_mover" and run.heads("s_inhibition") == [(4, 2), (5, 0)]
    report = run.report()
    assert "IOI circuit of reference:ioi (4 prompts, seed 0)" in report
    assert "name_mover           6.1, 6.3" in report and "planted vs found" in report
    assert "precision 1.00, recall 1.00" in report
    assert "9.6, 9.9, 10.0" in run.paper_comparison() and not run.is_paper_model


def test_sensitivity_evidence_and_defaults(run, ioi_model, store):
    """The threshold-sensitivity summary is stored with the run, printed in its report and
    shown by the dashboard's view; the evidence table prints every margin and the attention
    that corroborates each class; runs default to the paper's 100 prompts."""
    from interp.results.base import load_result, save
    from interp.views import ioi_run

    assert [r["scale"] for r in run.sensitivity] == [0.5, 0.75, 1.0, 1.5, 2.0]
    assert all(r["n_heads"] == 13 and not r["added"] for r in run.sensitivity)
    report = run.report()
    assert "threshold sensitivity (every causal bar x scale" in report
    assert "  x0.5   13     none" in report
    assert "6.1   name_mover" in report and "END->IO 0.93 +0.63" in report
    assert (
        "pattern"
        in report.splitlines()[
            report.splitlines().index(
                "evidence (margin: value past its bar; pattern: attention score, its margin)"
            )
            + 1
        ]
    )
    stored = save(run, model=ioi_model, config={"n_prompts": 4}, seed=0, store=store)
    assert load_result(stored.run_id, store=store).sensitivity == run.sensitivity
    view = ioi_run(stored.run_id, str(store.root))
    rows = view.sensitivity_rows()
    assert [r["thresholds"] for r in rows] == ["x0.5", "x0.75", "x1", "x1.5", "x2"]
    assert rows[0] == {"thresholds": "x0.5", "heads": 13, "added": "—", "removed": "—"}
    evidence = {r["head"]: r for r in view.evidence_rows()}
    assert evidence["6.1"]["class"] == "name mover" and evidence["6.1"]["corroborated"] == "yes"
    assert evidence["6.1"]["margin"] > 2 and evidence["7.0"]["pattern"] == "n/a"
    assert view.warnings() == []
    # defaults sized like the paper (tests pass small n explicitly)
    assert inspect.signature(run_ioi).parameters["n_prompts"].default == 100
    assert inspect.signature(ioi_task).parameters["n_prompts"].default == 100


def test_implausible_circuit_flag_reaches_the_dashboard(run, ioi_model, store):
    """A run with an implausibly large circuit says so on the IOI page: its own warning,
    and (for runs stored before the flag existed) the same rule applied by the view."""
    from interp.studies.ioi_circuit import Thresholds
    from interp.studies.ioi_run import implausible_circuit
    from interp.views import ioi_run

    big = {"name_mover": [[lyr, h] for lyr in range(8) for h in range(4)][:30]}
    flag = implausible_circuit(30, 32, Thresholds())
    for warnings in ([flag], []):  # stored with the warning, and an old run without it
        bloated = dataclasses.replace(run, circuit=big, warnings=warnings)
        saved = store.save(
            "ioi", model=record_of(ioi_model).to_dict(), config={}, seed=0,
            summary=bloated.summary(), arrays=bloated.arrays(),
        )  # fmt: skip
        (warning,) = ioi_run(saved.run_id, str(store.root)).warnings()
        assert warning.startswith("implausible circuit: 30 of 32 heads"), warning


def test_stored_format_is_the_old_scripts(run, ioi_model, store):
    from interp.results.base import load_result, save

    summary, arrays = run.summary(), run.arrays()
    assert [k for k in summary if k in OLD_SUMMARY_KEYS] == OLD_SUMMARY_KEYS
    names = OLD_ARRAY_NAMES | ADDED_ARRAY_NAMES
    assert set(arrays) == names and all(a.dtype == np.float32 for a in arrays.values())
    stored = save(run, model=ioi_model, config={"n_prompts": 4}, seed=0, store=store)
    assert stored.kind == "ioi" and set(stored.array_names) == names
    again = load_result(stored.run_id, store=store)
    assert isinstance(again, IOIRun) and again.summary() == summary
    assert again.circuit == run.circuit and again.evidence == run.evidence
    for name, array in arrays.items():
        assert np.array_equal(again.array(name), array, equal_nan=True), name


def old_script_parts(run: IOIRun, record) -> tuple[dict, dict]:
    """A run as the old experiments/ioi.py stored it: its summary dict and array dict, built
    the way its ``main`` built them (numbers taken from a real run)."""
    summary = {
        "model": record.name,
        "n_prompts": run.n_prompts,
        "seed": run.seed,
        "circuit": run.circuit,
        "logit_diff": run.logit_diff,
        "corrupted_logit_diff": run.corrupted_logit_diff,
        "io_top1": run.io_top1,
        "io_over_s": run.io_over_s,
        "io_prob": run.io_prob,
        "faithfulness": run.faithfulness,
        "f_circuit": run.f_circuit,
        "f_model": run.f_model,
        "minimality": run.minimality,
        "completeness": run.completeness,
        "evidence": run.evidence,
        "thresholds": run.thresholds,
        "attribution_correlation": run.attribution_correlation,
        "example_prompt": run.example_prompt,
        "position_labels": ["IO", "S1", "S1+1", "S2", "END"],
    }
    planted = (record.reference or {}).get("placement")
    summary["planted"] = planted
    summary["precision_recall"] = run.precision_recall
    arrays = {
        "dla": run.dla,
        "dla_ablated": run.dla_ablated,
        "pp_logits": run.pp_logits,
        "pp_name_mover_q": run.pp_name_mover_q,
        "pp_s_inhibition_v": run.pp_s_inhibition_v,
        "pp_induction_k": run.pp_induction_k,
        "patch_resid_pre": run.patch_resid_pre,
        "patch_attn_out": run.patch_attn_out,
        "patch_mlp_out": run.patch_mlp_out,
        "patch_head_out": run.patch_head_out,
        "attribution": run.attribution,
        "attribution_exact": run.attribution_exact,
        "attn_end_to_io": run.attn_end_to_io,
        "attn_end_to_s": run.attn_end_to_s,
        "attn_s2_to_s1": run.attn_s2_to_s1,
        "attn_s2_to_s1_plus_1": run.attn_s2_to_s1_plus_1,
        "attn_previous_token": run.attn_previous_token,
        "minimality": run.minimality_scores,
    }
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    summary["seconds"] = 12.3
    return summary, arrays


def test_a_run_stored_by_the_old_script_lists_loads_and_draws(run, ioi_model, store):
    from interp.results.base import load_result
    from interp.views import ioi_run, run_rows

    record = record_of(ioi_model)
    summary, arrays = old_script_parts(run, record)
    config = {"model": "reference:ioi", "n_prompts": 4, "seed": 0, "store": True}
    with store.run("ioi", model=record.to_dict(), config=config, seed=0) as handle:
        handle.summary.update(summary)
        handle.arrays.update(arrays)
    # it lists
    (listed,) = store.list("ioi")
    assert listed.run_id == handle.run_id
    assert "logit_diff=5.1" in run_rows([listed])[0]["summary"]
    # it loads as an IOIRun, the dict's entries as fields and the arrays by their old names
    loaded = load_result(handle.run_id, store=store)
    assert isinstance(loaded, IOIRun) and loaded.seconds == 12.3 and loaded.extra == {}
    assert loaded.circuit == run.circuit and loaded.planted == record.reference["placement"]
    assert np.array_equal(loaded.minimality_scores, arrays["minimality"], equal_nan=True)
    # fields added since then come back with their defaults (an old run was never forced)
    defaults = {"minimality_threshold": 0.01, "forced": False, "warnings": [], "sensitivity": []}
    assert loaded.summary() == {**summary, **defaults}
    assert loaded.report() == dataclasses.replace(run, sensitivity=[]).report()
    # and it draws, through the view the dashboard uses
    view = ioi_run(handle.run_id, str(store.root))
    assert view.n_layers == 8 and view.is_reference
    diagram = view.diagram()
    assert len(diagram.layout.annotations) == ARROWS
    labels = {t for trace in diagram.data for t in (trace.text or []) if "." in t}
    assert labels == {f"{a}.{b}" for hs in record.reference["placement"].values() for a, b in hs}
    rows = {r["class"]: r for r in view.class_rows()}
    assert rows["name mover"]["found"] == rows["name mover"]["planted"] == "6.1, 6.3"
    assert {r["precision"] for r in rows.values()} == {"1.00"}
    metrics = {r["quantity"]: r["measured"] for r in view.metric_rows()}
    assert metrics["logit difference IO − S"] == f"{run.logit_diff:.2f}"
    assert metrics["faithfulness F(C)/F(M)"] == f"{100 * run.faithfulness:.1f}%"
    sections = {s: view.heatmaps(s) for s in ("patching", "path", "dla")}
    assert [len(f) for f in sections.values()] == [4, 4, 2]
    dla = sections["dla"][0]
    assert np.allclose(np.asarray(dla.data[0].z, dtype=float), arrays["dla"], atol=1e-6)
    assert list(sections["patching"][0].data[0].x) == ["IO", "S1", "S1+1", "S2", "END"]
    bars = view.minimality_figure().data[0]
    assert len(bars.x) == 13 and min(bars.y) >= 0.01  # every planted head is needed


def test_hand_made_and_partial_runs_still_draw(ioi_model, store):
    """Runs with only some entries (e.g. made by hand, or stored before evaluation existed)
    and a circuit under ``classes`` with loosely written class names."""
    from interp.views import circuit_classes, ioi_run

    record = record_of(ioi_model)
    summary = {
        "model": record.name,
        "classes": {"Name movers": [[6, 1], [6, 3]], "S-inhibition": [[4, 2], [5, 0]]},
        "logit_diff": 5.2,
        "faithfulness": None,
        "note": "made by hand",
    }
    dla = np.zeros((8, 4), dtype=np.float32)
    dla[6, 1] = dla[6, 3] = 2.5
    saved = store.save(
        "ioi", model=record.to_dict(), config={}, seed=None, summary=summary, arrays={"dla": dla}
    )
    view = ioi_run(saved.run_id, str(store.root))
    assert view.circuit == circuit_classes(summary) == {
        "name_mover": [[6, 1], [6, 3]], "s_inhibition": [[4, 2], [5, 0]],
    }  # fmt: skip
    assert len(view.diagram().layout.annotations) == 2 * 2 + 2  # SI -> NM, NM -> logits
    assert [r["found"] for r in view.class_rows()] == ["4.2, 5.0", "6.1, 6.3"]
    assert view.result.extra == {"note": "made by hand"} and not view.result.evaluated
    assert [len(view.heatmaps(s)) for s in ("patching", "path", "dla")] == [0, 0, 1]
    assert view.minimality_rows() == [] and view.result.n_layers == 8
    metrics = {r["quantity"]: r["measured"] for r in view.metric_rows()}
    assert metrics == {
        "logit difference IO − S": "5.20", "IO > S": "—", "P(IO)": "—",
        "faithfulness F(C)/F(M)": "—",
    }  # fmt: skip
    again = IOIRun.from_parts(view.result.summary(), {})
    assert again.circuit == view.circuit and again.extra["note"] == "made by hand"
    assert math.isnan(IOIRun().logit_diff) and IOIRun().n_layers == 0
