"""Logit lens: every layer's residual stream decoded at every position (the top token written
in each cell), target tokens' trajectories, and the stored Poland -> Warsaw run."""

import streamlit as st

from dashboard import common
from interp import views

st.title("Logit lens")
sel = common.selection()
model = common.model(sel)
if model is None:
    st.stop()

SITES = ["embed", "resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"]
left, right = st.columns([3, 2])
sites = left.multiselect(
    "Decoded streams",
    SITES,
    default=["embed", "resid_mid", "resid_post"],
    key="lens-sites",
    help="The final LayerNorm is recomputed on each decoded vector (TransformerLens #1076).",
)
targets_text = right.text_input(
    "Target tokens (comma-separated)",
    value=views.default_targets(sel.model),
    key=f"lens-targets-{sel.model}",
)
targets = tuple(t.strip() for t in targets_text.split(",") if t.strip())
lens = None
with common.shown_errors():
    lens = common.compute(
        "interp.methods.logit_lens:logit_lens",
        sel.prompt,
        sites=tuple(sites or ["resid_post"]),
        targets=targets,
        k=5,
        label="Decoding every layer…",
    )
if lens is not None:
    st.plotly_chart(lens.figure(), key="lens-heatmap")
    st.caption(f"Weight processing: {lens.weight_processing}. {lens.ln_treatment}.")
    if lens.targets:
        st.subheader("Target trajectories")
        tokens = lens.str_tokens[0]
        a, b = st.columns([3, 1])
        position = a.select_slider(
            "Position",
            options=list(range(len(tokens))),
            value=len(tokens) - 1,
            format_func=lambda p: f"{p}: {tokens[p]}",
            key="lens-position",
        )
        metric = b.radio("Metric", ["prob", "logit", "rank"], key="lens-metric", horizontal=True)
        st.plotly_chart(lens.trajectory_figure(position=position, metric=metric), key="lens-traj")

st.divider()
st.subheader("Poland → Warsaw (stored runs)")
record = common.pick_run("capitals", "Stored capitals run")
if record is None:
    common.offer_experiment("capitals")
    st.stop()
run = common.stored_result(str(common.store().root), record.run_id)
source, target = run.headline, run.headline_target
st.markdown(
    f"**{run.model_name}** · o-vector from FFN {run.ffn_layer} of the “{source[0]}” prompt · "
    f"{len(run.subjects)} pairs ({len(run.dropped)} dropped)"
)
cols = st.columns(4)
cols[0].metric(f"{source[0]} top-1 from layer", views.layer_label(run.subject_layer))
cols[1].metric(f"{source[1]} top-1 from layer", views.layer_label(run.answer_layer))
unrelated = getattr(run, "unrelated_transfer", None) or {}
if unrelated:
    cols[2].metric(
        f"{unrelated['headline'][0]} context, FFNs := o →",
        repr(str(unrelated["headline_transfer_top"]).strip()),
    )
    cols[3].metric(
        "transfer, unrelated contexts (paper's protocol)",
        f"{unrelated['transfer_accuracy']:.1%}",
        help=unrelated["protocol"],
    )
else:  # a run stored before the paper's protocol was measured
    cols[2].metric(f"{target[0]} + o_L{run.ffn_layer} →", repr(run.headline_transfer_top.strip()))
    cols[3].metric("same-template transfer (not the paper's)", f"{run.transfer_accuracy:.1%}")
st.caption(
    f"{run.layer_rule}. o-vector FFN {run.ffn_layer}: {run.ffn_layer_rule}. Prompts "
    + ("with" if run.prepend_bos else "without")
    + " BOS."
)
st.dataframe(views.recall_rows(run, record), hide_index=True)
for note in views.recall_notes(run, record):
    st.caption(f"Note: {note}")
st.plotly_chart(run.figure(), key="capitals-figure")
second = views.second_relation_rows(run, record)
if second:
    relation = (run.second_relation or {}).get("relation", "second relation")
    st.markdown(f"**The same pipeline on {relation.replace('_', ' ')}**")
    st.dataframe(second, hide_index=True)
with st.expander("Per-pair answer ranks"):
    st.dataframe(views.recall_pair_rows(run), hide_index=True)
