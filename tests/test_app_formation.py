"""The circuit-formation page and its views, on the checkpoints shipped with ``trained:ioi``
(steps 500 and 650, and the final model at step 2000): before the phase change of IO > S no
head passes the name-mover threshold, after it head 1.3 does (it attends END -> S2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import plotly_figures, texts

from interp.core.errors import InterpError

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 240  # seconds per script run: the page may measure three checkpoints on a CPU
PAGE = "dashboard/pages/formation.py"
STEPS = [500, 650, 2000]  # the shipped checkpoints and the final model's step


@pytest.fixture()
def results(tmp_path, monkeypatch):
    """An empty results store for the app (AppTest runs the app in this process)."""
    from interp.results.store import ResultsStore

    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "results"))
    return ResultsStore()


@pytest.fixture(scope="module")
def shipped():
    """Circuit formation measured on the shipped checkpoints, as the page measures it."""
    from interp import views

    return views.shipped_formation(n_prompts=views.SHIPPED_PROMPTS, device="cpu")


def store_formation(store, source) -> str:
    """Store a formation result as experiments/train.py does (kind circuit_formation)."""
    record = store.save(
        "circuit_formation",
        model={"name": "runs/ioi/final", "source": "local", "n_layers": 4, "n_heads": 4},
        config={"recipe": "ioi"},
        seed=0,
        summary=source.result.summary(),
        arrays=source.result.arrays(),
    )
    return record.run_id


def open_page(**state):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def circuit_classes(at) -> dict[str, list[str]]:
    """The circuit diagram's heads by class name (legend entry -> head labels)."""
    diagram = next(
        f for f in plotly_figures(at) if f["layout"]["title"]["text"].startswith("circuit at")
    )
    return {t["name"]: t["text"] for t in diagram["data"] if t.get("name")}


# -- views ------------------------------------------------------------------------------------
def test_shipped_formation_step_by_step(shipped):
    from interp import views

    assert shipped.origin == "computed" and shipped.run_id is None
    assert shipped.model == "trained:ioi" and shipped.steps == STEPS
    assert "no circuit_formation run is stored" in shipped.note
    result = shipped.result
    # the name-mover threshold: 10% of the final logit difference, in logits
    assert result.threshold_logits == pytest.approx(0.1 * result.logit_diff[-1])

    first, last = views.formation_step(result, 500), views.formation_step(result, 2000)
    assert first.io_over_s < 0.7 and last.io_over_s >= 0.95
    assert last.logit_diff > 5 * first.logit_diff
    assert first.circuit == {} and views.step_circuit(result, 500) == {}
    assert [1, 3] in last.circuit["name_mover"]
    assert first.loss is not None and first.loss > last.loss  # training loss from the record
    assert first.metrics()["name movers"] == "0"

    # the head grid: DLA at END per [layer, head], on one colour range for every step
    dla = last.dla_figure().data[0]
    assert np.allclose(np.asarray(dla.z), result.dla[-1])
    assert dla.zmax == pytest.approx(np.abs(result.dla).max())
    assert (
        np.asarray(dla.z)[1, 3]
        >= last.threshold_logits
        > np.asarray(first.dla_figure().data[0].z).max()
    )
    attention = last.attention_figures()
    assert len(attention) == 5
    end_to_s2 = np.asarray(attention[2].data[0].z)
    assert end_to_s2[1, 3] > 0.8  # trained:ioi's name mover reads S2 from END
    rows = last.head_rows()
    assert rows[0]["head"] == "1.3" and rows[0]["reads from (END)"] == "S2"

    # the circuit diagram: the name mover at the last step, nothing but the logits at the first
    names = [t.name for t in last.circuit_figure().data if t.name]
    assert any(n.startswith("name mover") for n in names)
    assert [t.name for t in first.circuit_figure().data if t.name] == []
    curve = views.formation_curve(result, 650)
    assert any(s.x0 == 650 for s in curve.layout.shapes)

    with pytest.raises(InterpError, match="not a checkpoint"):
        views.formation_step(result, 501)


def test_formation_source_reads_the_newest_stored_run(results, shipped):
    from interp import views

    run_id = store_formation(results, shipped)
    source = views.formation_source(root=str(results.root))
    assert source.origin == "stored" and source.run_id == run_id
    assert source.model == "runs/ioi/final" and source.steps == STEPS
    assert np.array_equal(source.result.dla, shipped.result.dla)
    assert views.step_circuit(source.result, 2000) == views.step_circuit(shipped.result, 2000)
    assert views.formation_records("trained:ioi", str(results.root)) == []
    results.save("ioi", model={"name": "x"}, config={}, seed=0, summary={}, run_id="r-ioi")
    with pytest.raises(InterpError, match="not a circuit_formation run"):
        views.stored_formation("r-ioi", str(results.root))


# -- the page ---------------------------------------------------------------------------------
def test_page_says_how_to_make_a_run_when_nothing_can_be_measured(results, monkeypatch):
    import streamlit as st

    import interp.core.trained

    st.cache_data.clear()  # the shipped measurement may be cached by an earlier test
    monkeypatch.setattr(interp.core.trained, "checkpoints", lambda kind: [])
    at = open_page()
    assert at.title[0].value == "Circuit formation"
    assert not at.select_slider
    assert any("python experiments/train.py" in str(e.value) for e in at.info)
    assert any("ships no training checkpoints" in str(e.value) for e in at.error)
    st.cache_data.clear()


def test_page_slider_shows_the_circuit_forming(results, shipped):
    """No run stored: the page measures the shipped checkpoints; at the last step head 1.3
    is a name mover, at the first step no head is. A stored run is then shown instead."""
    at = open_page()
    assert at.title[0].value == "Circuit formation"
    assert "Computed: measured now on the 2 checkpoints shipped with trained:ioi" in texts(at)
    slider = at.select_slider[0]
    assert list(slider.options) == [str(s) for s in STEPS] and slider.value == 2000
    assert "1.3" in circuit_classes(at)["name mover (END)"]
    assert [r for r in at.dataframe[0].value["head"]] == ["1.3"]
    assert at.metric[0].value == "100.0%"

    slider.set_value(500).run()
    assert not at.exception
    assert not any(name.startswith("name mover") for name in circuit_classes(at))
    assert "No head passes the name-mover threshold" in texts(at)
    io_over_s = float(at.metric[0].value.rstrip("%")) / 100
    assert io_over_s < 0.7

    run_id = store_formation(results, shipped)
    at.run()  # a new run appears in the selectbox; the newest stored run is the default
    at.selectbox(key="formation-run").set_value(run_id).run()
    assert not at.exception
    assert f"Stored: stored run {run_id}" in texts(at)
    at.select_slider[0].set_value(2000).run()
    assert "1.3" in circuit_classes(at)["name mover (END)"]
