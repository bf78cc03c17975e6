"""IOI circuit: a stored run's circuit as a diagram, its patching heatmaps, direct logit
attribution and faithfulness (Wang et al. 2022); any stored run can be picked."""

import streamlit as st

from dashboard import common
from interp import views

st.title("IOI circuit")
sel = common.selection()
record = common.pick_run("ioi", "Stored IOI run")
if record is None:
    common.offer_experiment("ioi")
    model = common.model(sel)
    placement = views.planted_placement(model) if model is not None else {}
    if model is not None and placement:
        st.plotly_chart(
            views.circuit_figure(placement, model.cfg.n_layers, f"Planted circuit of {sel.model}"),
            key="planted-circuit",
        )
    elif model is not None:
        st.caption(
            f"{sel.model} has no planted IOI circuit to show until a run is stored; "
            "reference:ioi has one (its planted heads are drawn here without a run)."
        )
        st.button(
            "Use reference:ioi",
            key="ioi-use-reference",
            on_click=common.use_model,
            args=("reference:ioi",),
        )
    st.stop()

run = common.cached("interp.views:ioi_run", record.run_id, str(common.store().root))
result = run.result  # interp.studies.ioi_run.IOIRun
st.caption(
    f"{run.model} · {result.n_prompts or '?'} prompts (seed {result.seed}) · "
    f"e.g. “{result.example_prompt}” · stored {record.started_at[:19].replace('T', ' ')}"
)
for warning in run.warnings():
    st.warning(f"{warning}. Read this circuit with care.", icon="⚠️")
cols = st.columns(4)
metrics = {r["quantity"]: r["measured"] for r in run.metric_rows()}
for col, (label, value) in zip(cols, metrics.items()):
    col.metric(label, value)

st.plotly_chart(run.diagram(), key="circuit")
left, right = st.columns([3, 2])
with left:
    st.markdown("**Heads by class**")
    st.dataframe(run.class_rows(), hide_index=True)
if len(run.metric_rows()[0]) > 2:
    with right:
        st.markdown("**Measured beside the paper**")
        st.dataframe(run.metric_rows(), hide_index=True)

if run.evidence_rows():
    with st.expander("Evidence per head (value, bar, margin; attention corroboration)"):
        st.dataframe(run.evidence_rows(), hide_index=True)
if run.sensitivity_rows():
    st.markdown("**Threshold sensitivity** (every causal bar scaled; the measured scores reused)")
    st.dataframe(run.sensitivity_rows(), hide_index=True)

patching, path, dla, faithfulness = st.tabs(
    ["Activation patching", "Path patching", "Direct logit attribution", "Faithfulness"]
)
for tab, section in [(patching, "patching"), (path, "path"), (dla, "dla")]:
    with tab:
        figures = run.heatmaps(section)
        for i, col in enumerate(st.columns(2) * ((len(figures) + 1) // 2)):
            if i < len(figures):
                col.plotly_chart(figures[i], key=f"{section}-{i}")
with faithfulness:
    f_c, f_m = (float("nan") if v is None else v for v in (result.f_circuit, result.f_model))
    st.markdown(
        f"F(C)/F(M) = **{result.faithfulness:.1%}** (F(C) {f_c:.2f}, "
        f"F(M) {f_m:.2f}; paper on GPT-2 small: 87%)"
        if result.evaluated
        else "This run did not evaluate a circuit (none was found)."
    )
    if run.minimality_rows():
        st.plotly_chart(run.minimality_figure(), key="minimality")
    if result.completeness:
        st.markdown("**Completeness per class** (|F(C \\ K) − F(M \\ K)|, K = the class)")
        rows = [{"class": k, **v} for k, v in result.completeness.items()]
        st.dataframe(rows, hide_index=True)
