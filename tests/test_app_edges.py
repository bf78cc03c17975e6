"""The edge-circuit page: a stored EAP circuit of reference:ioi drawn as a graph with its top
edges, and one edge patched exactly beside its estimate."""

from __future__ import annotations

from pathlib import Path

import pytest

import interp

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGE = "dashboard/pages/edges.py"


@pytest.fixture()
def stored(tmp_path, monkeypatch, ioi_model):
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "results"))
    task = interp.ioi_task(ioi_model, n_prompts=3, seed=0)
    circuit = interp.edge_scores(ioi_model, task, "eap")
    run = interp.save(circuit, model=ioi_model, config={"method": "eap"}, seed=0)
    return circuit, run.run_id


def open_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=240)
    at.session_state["device"] = "cpu"
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_empty_store_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "empty"))
    at = open_page()
    assert any("experiments/edges.py" in i.value for i in at.info)


def test_graph_table_and_exact_check(stored):
    circuit, run_id = stored
    at = open_page()
    assert at.selectbox(key="edges-run").value == run_id
    assert len(at.get("plotly_chart")) == 1
    table = at.dataframe[0].value
    assert len(table) == 60 and abs(table["score"].iloc[0]) >= abs(table["score"].iloc[-1])
    edge = table["edge"].iloc[0]
    at.selectbox(key="edges-edge").set_value(edge).run()
    at.button(key="edges-check").click().run()
    assert not at.exception, [e.value for e in at.exception]
    values = {m.label: float(m.value) for m in at.metric}
    estimate = next(v for k, v in values.items() if k.startswith("estimate"))
    exact = values["exact edge patching"]
    g = circuit.graph
    s, d = g.parse_edge(edge)
    assert estimate == pytest.approx(float(circuit.scores[s, d]), abs=1e-3)
    assert exact != 0 and (exact > 0) == (estimate > 0)  # a top edge: same sign, real effect
