"""Runs: every stored run with its model, config and summary; several side by side."""

import streamlit as st

from dashboard import common
from interp import views

st.title("Runs")
store = common.store()
records = store.list()
st.caption(f"Results store: `{store.root.resolve()}` (set `INTERP_RESULTS_DIR` to use another)")
if not records:
    st.info(
        "No runs are stored yet. Experiments store their runs here, e.g.\n\n"
        + "\n".join(f"- `{views.experiment_command(kind)}`" for kind in views.EXPERIMENTS)
    )
    st.stop()

kinds = sorted({r.kind for r in records})
kind = st.selectbox("Kind", ["all", *kinds], key="runs-kind")
shown = [r for r in records if kind == "all" or r.kind == kind]
st.dataframe(views.run_rows(shown), hide_index=True)

by_id = {r.run_id: r for r in shown}
chosen = st.multiselect(
    "Runs to show side by side",
    list(by_id),
    default=list(by_id)[:2],
    key=f"runs-chosen-{kind}",
    format_func=lambda i: f"{i} · {by_id[i].kind} · {by_id[i].model_name}",
)
if len(chosen) >= 2:
    st.subheader("Differences")
    st.dataframe(views.comparison_rows(store.compare(chosen)), hide_index=True)
if chosen:
    st.subheader("Configs and summaries")
    for col, run_id in zip(st.columns(len(chosen)), chosen):
        record = by_id[run_id]
        with col:
            st.markdown(f"**{run_id}**  \n{record.kind} · {record.model_name} · seed {record.seed}")
            st.caption("config")
            st.json(record.config, expanded=1)
            st.caption("summary")
            st.json(record.summary, expanded=1)
            st.caption(f"arrays: {', '.join(record.array_names) or 'none'}")
