"""Attention heads: the chosen head's pattern on the current prompt, and one layer x head
heatmap of head scores to pick a head from (click a cell, or choose it in the selector), with
the scores as a sortable table beside each head's planted role and IOI class.

One heatmap and one selector whatever the model's size: GPT-2 small's 144 heads and XL's 1,200
cost the same number of widgets."""

import streamlit as st

from dashboard import common
from interp import views
from interp.views.heads import clicked_head, head_options

st.title("Attention heads")
sel = common.selection()
model = common.model(sel)
if model is None:
    st.stop()

n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
options = head_options(n_layers, n_heads)
state = st.session_state


def picked() -> None:
    state["head-picked"] = True


table = None
with common.shown_errors():
    table = common.compute("interp.views:head_table", label="Scoring heads…")
start = table.start_head() if table is not None else (0, 0, "the first head")

# a click on the heatmap (its selection, from the previous run) picks the head; the selector
# follows it, and the heatmap outlines whatever the selector holds
click = clicked_head(state.get("head-grid"), n_layers, n_heads)
if click is not None and click != state.get("head-clicked"):
    state["head-select"] = f"{click[0]}.{click[1]}"
    state["head-picked"] = True
state["head-clicked"] = click
if state.get("head-select") not in options:  # first visit, or another model was selected
    state["head-select"] = f"{start[0]}.{start[1]}"
    state["head-picked"] = False
layer, head = (int(i) for i in state["head-select"].split("."))

detail, grid = st.columns([1, 1], gap="medium")
with detail, common.shown_errors():
    st.subheader(f"Head {layer}.{head}")
    if not state.get("head-picked"):
        st.caption(f"Opened on {layer}.{head}: {start[2]}. Pick another head on the right.")
    patterns = common.compute("interp.views:attention_patterns", sel.prompt)
    st.plotly_chart(patterns.figure(layer, head), key="head-pattern")

with grid:
    st.subheader("Pick a head")
    st.caption(
        f"{n_layers} layers x {n_heads} heads. Click a cell of the heatmap, or choose the head "
        "here (type to search, e.g. 6.1)."
    )
    left, right = st.columns(2)
    right.selectbox("Head", options, key="head-select", on_change=picked)
    if table is not None:
        metric = left.selectbox("Score", table.score_names, key="score-metric")
        st.plotly_chart(
            table.figure(metric, selected=(layer, head)),
            key="head-grid",
            on_select="rerun",
            selection_mode="points",
        )

st.divider()
st.subheader("Head scores")
if table is not None:
    table = table.with_classes(views.ioi_classes(sel.model))
    st.caption(
        "Scores on repeated random sequences [BOS, t1..tk, t1..tk] (Olsson et al. 2022): "
        "mean attention to the previous token, to the earlier copy of the token (duplicate) "
        "and to the token after the earlier copy (induction)."
    )
    st.dataframe(table.rows(), hide_index=True, height=420)
