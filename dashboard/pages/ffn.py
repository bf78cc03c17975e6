"""FFN memories: a neuron browser (value's top tokens, trigger examples with the trigger
marked) and what built the prediction for the current prompt, with neurons switched off."""

import streamlit as st

from dashboard import common
from interp import views
from interp.views.ffn import memory_neuron_rows, mining_command

st.title("FFN memories")
sel = common.selection()
model = common.model(sel)
if model is None:
    st.stop()
cfg = model.cfg
planted = views.planted_neurons(model)

# -- neuron browser --------------------------------------------------------------------------
st.subheader("Neuron browser")
start = common.compute("interp.views:neuron_start", label="Finding a neuron to start on…")
if start.empty:
    st.warning(
        f"Every MLP of {sel.model} is zero: its mechanism is planted in attention heads only, "
        "so no neuron stores anything to browse here (the prediction below is built by heads)."
    )
    st.info(
        f"The key-value memories are planted in the MLPs of **{views.MEMORY_MODEL}**: "
        + ", ".join(start.elsewhere)
        + "."
    )
    st.button(
        f"Use {views.MEMORY_MODEL}",
        key="ffn-use-memory-model",
        on_click=common.use_model,
        args=(views.MEMORY_MODEL,),
    )
else:
    if planted:
        st.caption(
            "Planted memories of this reference model: "
            + ", ".join(
                f"L{m['layer']}N{m['neuron']} ({m['trigger']} → {m['target']})" for m in planted
            )
        )
    else:
        st.caption(
            f"Opened on L{start.layer}N{start.neuron}: {start.why}. Pick any layer and neuron."
        )
    left, right = st.columns(2)
    layer = left.number_input("Layer", 0, cfg.n_layers - 1, start.layer, key="ffn-layer")
    neuron = right.number_input("Neuron", 0, cfg.d_mlp - 1, start.neuron, key="ffn-neuron")
    with common.shown_errors():
        with st.spinner("Reading the neuron…"):  # the store: mining jobs may have been added
            view = views.neuron_view(model, int(layer), int(neuron))
        values, triggers = st.columns([2, 3])
        with values:
            st.markdown(f"**L{layer}N{neuron}** · value norm {view.value_norm:.2f}")
            if view.planted:
                st.caption(view.planted)
            st.dataframe(view.value_rows(), hide_index=True)
        with triggers:
            st.markdown("**Trigger examples** (trigger token marked, next token in grey)")
            if view.job is None:
                st.info(
                    "No trigger examples are mined for this model yet. Mine them with\n\n"
                    f"`interp mine --model {sel.model}`, or run "
                    f"`{mining_command(sel.model)}`"
                )
            for ex in view.examples:
                st.html(
                    f"<div style='font-family:monospace;margin:2px 0'><b>{ex['rank']}.</b> "
                    f"<small>({ex['activation']:.2f})</small> {ex['html']}</div>"
                )

# -- prediction attribution --------------------------------------------------------------------
st.divider()
st.subheader("What built the prediction")
st.caption(f"Prompt: “{sel.prompt}” (change it in the sidebar)")
target = st.text_input("Target token (empty: the model's own prediction)", key="ffn-target")
with common.shown_errors():
    attribution = common.compute(
        "interp.methods.prediction:attribute_prediction",
        sel.prompt,
        target.strip() or None,
        label="Attributing the prediction…",
    )
    a, b, c = st.columns(3)
    a.metric("Prediction", repr(attribution.predicted))
    b.metric(f"p({attribution.target!r})", f"{attribution.prob:.3f}")
    c.metric("Rank of the target", attribution.rank + 1)
    st.plotly_chart(attribution.figure(), key="attribution")
    st.dataframe(attribution.table, hide_index=True)

    st.markdown("**Switch neurons off**")
    options = [r["component"] for r in attribution.table if r["kind"] == "neuron"]
    options += [
        f"L{m['layer']}N{m['neuron']}"
        for m in planted
        if f"L{m['layer']}N{m['neuron']}" not in options
    ]
    off = st.multiselect(
        "Neurons (or heads) to switch off; type others like L2N14 or L6H1",
        options,
        key="ffn-off",
        accept_new_options=True,
    )
    if off:
        effect = common.compute(
            "interp.methods.prediction:switch_components",
            sel.prompt,
            tuple(off),
            0.0,
            10,
            attribution.target_id,
            label="Running with the neurons off…",
        )
        before, after = st.columns(2)
        before.metric(
            "Prediction before",
            repr(effect.top_before[0][0]),
            f"p = {effect.top_before[0][1]:.3f}",
            delta_color="off",
            delta_arrow="off",
        )
        after.metric(
            "Prediction with them off",
            repr(effect.top_after[0][0]),
            f"p = {effect.top_after[0][1]:.3f}",
            delta_color="off",
            delta_arrow="off",
        )
        p_before, p_after = effect.target_prob_before, effect.target_prob_after
        st.caption(f"p({effect.target!r}): {p_before:.3f} → {p_after:.3f}")
        st.plotly_chart(effect.figure(), key="switch")

# -- stored runs ------------------------------------------------------------------------------
st.divider()
st.subheader("Stored FFN-memories runs")
record = common.pick_run("ffn_memories", "Stored ffn_memories run")
if record is None:
    common.offer_experiment("ffn_memories")
    st.stop()
summary = record.summary
reference = str(record.model.get("source")) == "reference"
cols = st.columns(3)
cols[0].metric("Model", record.model_name)
cols[1].metric("Corpus tokens mined", f"{summary.get('n_tokens', 0):,}")
if "all_recovered" in summary:
    cols[2].metric("Planted memories recovered", "all" if summary["all_recovered"] else "not all")
origin = f" ({summary['corpus_origin']})" if summary.get("corpus_origin") else ""
st.caption(
    f"Corpus: {summary.get('corpus', '?')}{origin} · mining job {summary.get('mining_job', '?')}"
)
left, right = st.columns([3, 2])
agreement_id = (summary.get("run_ids") or {}).get("agreement")
with left, common.shown_errors():
    if agreement_id:
        agreement = common.stored_result(str(common.store().root), agreement_id)
        st.plotly_chart(agreement.figure(), key="agreement")
with right:
    st.markdown("**Key-value agreement**")
    st.dataframe(views.agreement_rows(summary, reference), hide_index=True)
    if not reference:
        st.caption(f"paper, random: {views.PAPER_AGREEMENT['random']}")
if summary.get("neurons"):
    st.markdown("**Neurons: the value's top tokens and the top trigger examples**")
    st.dataframe(memory_neuron_rows(summary), hide_index=True)
if summary.get("memories"):
    st.markdown("**Planted memories: planted vs found**")
    st.dataframe(summary["memories"], hide_index=True)
if summary.get("interventions"):
    st.markdown("**Switching the top neurons off**")
    st.dataframe(summary["interventions"], hide_index=True)
