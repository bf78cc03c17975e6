"""Circuit formation: how the IOI circuit of a trained model forms over training. The
formation curve (IOI metric, heads' DLA and attention per checkpoint), a step slider, and at
the chosen step the head grid and the circuit (interp.studies.formation)."""

import streamlit as st

from dashboard import common
from interp import views

SHIPPED = "shipped"

st.title("Circuit formation")
st.caption(
    "A small GPT-2 trained from scratch on IOI, measured checkpoint by checkpoint on the same "
    "prompts. A head is a name mover at a step when its direct logit attribution at END on "
    "IO − S reaches the run's threshold in logits (a fixed fraction of the *final* logit "
    "difference, the same at every step); negative name movers reach minus it."
)
sel = common.selection()
root = str(common.store().root)
records = views.formation_records(root=root)
by_id = {r.run_id: r for r in records}
choice = st.selectbox(
    "Formation run",
    [*by_id, SHIPPED],
    key="formation-run",
    format_func=lambda i: (
        "trained:ioi: measure its shipped checkpoints now"
        if i == SHIPPED
        else f"{i}  ·  {by_id[i].model_name}"
    ),
    help="Stored circuit_formation runs (newest first) come from experiments/train.py.",
)

source = None
with common.shown_errors():
    if choice == SHIPPED:
        with st.spinner("Measuring the checkpoints shipped with trained:ioi…"):
            source = common.cached(
                "interp.views:shipped_formation", "ioi", views.SHIPPED_PROMPTS, sel.device
            )
    else:
        source = common.cached("interp.views:stored_formation", choice, root)
if source is None:
    st.info(
        "No circuit formation to show: no `circuit_formation` run is stored and the shipped "
        "checkpoints of trained:ioi could not be measured. Store one with\n\n"
        f"`{views.FORMATION_COMMAND}`\n\n(trains the ioi recipe, resumable, then measures "
        "every checkpoint and stores the run)."
    )
    st.stop()

st.caption(f"{'Stored' if source.origin == 'stored' else 'Computed'}: {source.note}.")
if source.origin == "computed":
    st.caption(f"Store a run with every checkpoint instead: `{views.FORMATION_COMMAND}`")
curve = st.empty()
steps = source.steps
step = st.select_slider(
    "Training step",
    options=steps,
    value=steps[-1],
    key=f"formation-step-{choice}",
    help="The checkpoints of the run; the head grid and the circuit below are at this step.",
)
curve.plotly_chart(views.formation_curve(source.result, step), key="formation-curve")

view = views.formation_step(source.result, step)
for col, (label, value) in zip(st.columns(4), view.metrics().items()):
    col.metric(label, value)

left, right = st.columns(2)
with left:
    st.subheader("Head grid")
    st.plotly_chart(view.dla_figure(), key="formation-dla")
with right:
    st.subheader(f"Circuit at step {step}")
    st.plotly_chart(view.circuit_figure(), key="formation-circuit")
    if view.head_rows():
        st.dataframe(view.head_rows(), hide_index=True)
    else:
        st.caption(
            f"No head passes the name-mover threshold ({view.threshold_logits:.2f} logits) "
            f"at step {step}."
        )

st.subheader("Attention scores")
figures = view.attention_figures()
for i, col in enumerate(st.columns(3) * ((len(figures) + 2) // 3)):
    if i < len(figures):
        col.plotly_chart(figures[i], key=f"formation-attention-{i}")
