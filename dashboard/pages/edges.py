"""Edge circuits: a stored edge-level circuit (EAP, EAP-IG or exact edge patching) as a
graph, its top edges, and the exact effect of one chosen edge beside its estimate."""

import streamlit as st

from dashboard import common
from interp import views

st.title("Edge circuits")
store = common.store()
rows = views.circuit_runs(store)
if not rows:
    st.info(
        "No edge circuit is stored yet. Score one with\n\n"
        "`python experiments/edges.py --model reference:ioi --method all --n-prompts 6`"
    )
    st.stop()

by_id = {r["run id"]: r for r in rows}
run_id = st.selectbox(
    "Stored circuit",
    list(by_id),
    key="edges-run",
    format_func=lambda i: f"{i} · {by_id[i]['model']} · {by_id[i]['method']}",
)
record = store.get(run_id)
circuit = common.stored_result(str(store.root), run_id)
st.caption(
    f"{circuit.method} on {record.model_name}, metric {circuit.metric}, "
    f"{circuit.n_prompts} prompts; the graph has {circuit.n_edges:,} edges"
)
top = st.slider("Edges shown (by |score|)", 10, min(300, circuit.n_edges), 60, key="edges-top")
st.plotly_chart(circuit.figure(top=top), width="stretch")
edges = views.edge_rows(circuit, top=top)
st.dataframe(edges, hide_index=True)

st.subheader("Check one edge: exact patching beside the estimate")
edge = st.selectbox("Edge", [r["edge"] for r in edges], key="edges-edge")
sel = common.selection()
if sel.model != record.model_name:
    st.info(f"The check runs on the circuit's model, {record.model_name}.")
    if st.button(f"Use {record.model_name}", key="edges-use-model"):
        common.use_model(record.model_name)
        st.rerun()
elif st.button("Patch this edge exactly", key="edges-check"):
    with common.shown_errors():
        check = common.compute(
            "interp.views:edge_check_ioi",
            circuit.n_prompts,
            record.seed or 0,
            run_id,
            str(store.root),
            edge,
            label="Patching the edge…",
        )
        left, right = st.columns(2)
        left.metric("estimate (" + str(circuit.method) + ")", f"{check['estimate']:.4f}")
        right.metric("exact edge patching", f"{check['exact']:.4f}")
