"""Attention heads: every head's pattern on the current prompt (click one to enlarge it), head
scores as a sortable table and a layer x head heatmap, planted roles and IOI classes."""

import streamlit as st

from dashboard import common
from interp import views

st.title("Attention heads")
sel = common.selection()
model = common.model(sel)
if model is None:
    st.stop()


def select_head(layer: int, head: int) -> None:
    st.session_state.head = (layer, head)


def draw(patterns, start: tuple[int, int, str]) -> None:
    """The layer x head grid of thumbnails (a button under each) and the chosen head (at
    first ``start``: a planted head, or the best-scoring one)."""
    n_layers, n_heads = patterns.n_layers, patterns.n_heads
    layer, head = st.session_state.get("head", start[:2])
    if not (layer < n_layers and head < n_heads):  # another model was selected
        layer, head = start[:2]
    grid, detail = st.columns([1, 1], gap="medium")
    with grid:
        st.subheader("Patterns on the prompt")
        st.caption("Rows: layers; columns: heads. Query down, key across. Click a head.")
        scroller = st.container(height=min(720, 40 + 120 * n_layers), border=False)
        for lay in range(n_layers):
            cols = scroller.columns([0.4] + [1] * n_heads, gap="small")
            cols[0].markdown(f"**L{lay}**")
            for h in range(n_heads):
                with cols[h + 1]:
                    st.image(patterns.thumbnail(lay, h), width="content", alt=f"head {lay}.{h}")
                    st.button(
                        f"{lay}.{h}",
                        key=f"head-{lay}-{h}",
                        on_click=select_head,
                        args=(lay, h),
                        type="primary" if (lay, h) == (layer, head) else "secondary",
                    )
    with detail:
        st.subheader(f"Head {layer}.{head}")
        if "head" not in st.session_state:
            st.caption(f"Opened on {layer}.{head}: {start[2]}. Click another head on the left.")
        st.plotly_chart(patterns.figure(layer, head), key="head-pattern")


table = None
with common.shown_errors():
    table = common.compute("interp.views:head_table", label="Scoring heads…")
with common.shown_errors():
    start = table.start_head() if table is not None else (0, 0, "the first head")
    draw(common.compute("interp.views:attention_patterns", sel.prompt), start)

st.divider()
st.subheader("Head scores")
if table is not None:
    table = table.with_classes(views.ioi_classes(sel.model))
    st.caption(
        "Scores on repeated random sequences [BOS, t1..tk, t1..tk] (Olsson et al. 2022): "
        "mean attention to the previous token, to the earlier copy of the token (duplicate) "
        "and to the token after the earlier copy (induction)."
    )
    left, right = st.columns([2, 3])
    metric = left.selectbox("Score shown as a heatmap", table.score_names, key="score-metric")
    left.plotly_chart(table.figure(metric), key="score-heatmap")
    right.dataframe(table.rows(), hide_index=True, height=420)
