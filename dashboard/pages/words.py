"""Words: nearest neighbours of a word in the embedding or the residual stream, an analogy
box with the answer's rank, a PCA map of chosen words, same- vs different-sense similarity
by layer, and induction heads over the shipped training checkpoints (interp.views.words)."""

import streamlit as st

from dashboard import common
from interp import views

st.title("Words")
sel = common.selection()
model = common.model(sel)
if model is None:
    st.stop()

options = views.space_options(model.cfg.n_layers)
labels = list(options)
last_layer = labels[-1]


def pick_space(key: str, default: str = labels[0]) -> str | int:
    label = st.selectbox("Space", labels, index=labels.index(default), key=f"{key}-{sel.model}")
    return options[label]


# -- nearest neighbours ----------------------------------------------------------------------
st.subheader("Nearest neighbours")
st.caption(
    "Cosine similarity with every vocabulary token. A residual layer compares the word's "
    "residual stream (alone after BOS, or at the word in a context) with every token's "
    "residual when run alone after BOS; layer 0 is the token embedding without position."
)
a, b, c = st.columns([1, 2, 1])
word = a.text_input("Word", value=views.start_word(model), key=f"nn-word-{sel.model}")
with b:
    space = pick_space("nn-space")
k = c.slider("Neighbours", 3, 30, 10, key="nn-k")
context = ""
if isinstance(space, int):
    context = st.text_input(
        "Context (optional: read the word's residual in this sentence)",
        key=f"nn-context-{sel.model}",
        placeholder="e.g. they pulled the canoe up on the bank",
    )
if word.strip():
    with common.shown_errors():
        result = common.compute(
            "interp.views:nearest_words", word, space, k=k, context=context, label="Comparing…"
        )
        left, right = st.columns([3, 2])
        left.plotly_chart(result.figure(), key="nn-figure")
        right.dataframe(result.rows(), hide_index=True)
        if context:
            right.caption(f"Cosine with its own context-free vector: {result.self_cosine:.3f}")

# -- analogies -------------------------------------------------------------------------------
st.divider()
st.subheader("Analogies: a − b + c")
st.caption(
    "Mikolov et al. 2013: “b is to a as c is to ?” answered by the token nearest to a − b + c, "
    "the three inputs excluded. The expected answer's rank is among the remaining tokens."
)
qa, qb, qc, qe, qs = st.columns([1, 1, 1, 1, 2])
start = views.start_analogy(model)
wa = qa.text_input("a", value=start[0], key=f"an-a-{sel.model}")
wb = qb.text_input("− b", value=start[1], key=f"an-b-{sel.model}")
wc = qc.text_input("+ c", value=start[2], key=f"an-c-{sel.model}")
we = qe.text_input("expected", value=start[3], key=f"an-e-{sel.model}")
with qs:
    an_space = pick_space("an-space")
if wa.strip() and wb.strip() and wc.strip():
    with common.shown_errors():
        found = common.compute(
            "interp.views:word_analogy", wa, wb, wc, we, an_space, label="Solving…"
        )
        m1, m2 = st.columns(2)
        m1.metric("nearest", repr(found.tokens[0]))
        if found.expected:
            m2.metric(f"rank of {found.expected!r}", f"#{found.expected_rank}")
        st.plotly_chart(found.figure(), key="an-figure")

# -- PCA map ---------------------------------------------------------------------------------
st.divider()
st.subheader("A map of chosen words (PCA)")
left, right = st.columns([3, 2])
text = left.text_area(
    "Words (groups separated by ; or new lines)",
    value=views.start_map(model),
    key=f"map-words-{sel.model}",
    height=80,
)
with right:
    map_space = pick_space("map-space")
if text.strip():
    with common.shown_errors():
        projected = common.compute("interp.views:word_map", text, map_space, label="Projecting…")
        st.plotly_chart(projected.figure(), key="map-figure")

# -- senses by layer -------------------------------------------------------------------------
st.divider()
st.subheader("Polysemy and homonymy by layer")
st.caption(
    "For each shipped sense set (bank: river / finance, magazine: publication / publisher, …) "
    "the word's residual at every layer in every context, and the mean cosine of same-sense "
    "and different-sense pairs. Layer 0 is one token vector, so the two are equal there."
)
center = st.checkbox(
    "Centre (subtract each layer's mean residual over all contexts first)", key="senses-center"
)
with common.shown_errors():
    senses = common.compute("interp.views:sense_curves", center=center, label="Reading senses…")
    st.plotly_chart(senses.figure(), key="senses-figure")
    for note in (views.skipped_note(senses), views.split_note(senses)):
        if note:
            st.caption(note)
    st.dataframe(senses.rows(), hide_index=True)

# -- induction heads over training -------------------------------------------------------------
st.divider()
st.subheader("Induction heads over training")
if views.trained_kind(sel.model) is None:
    st.caption(
        f"{sel.model} ships no training checkpoints; choose a trained model (trained:text, "
        "trained:ioi) to see its heads' induction scores checkpoint by checkpoint."
    )
    st.stop()
probes = {"repeated random tokens": "random", "repeated held-out text": "text"}
probe = st.radio("Score the heads on", list(probes), horizontal=True, key="induction-probe")
with common.shown_errors():
    with st.spinner("Scoring the heads of every shipped checkpoint…"):
        curve = common.cached("interp.views:induction_curve", sel.model, sel.device, probes[probe])
    if curve is not None:
        layout = f"[BOS, t1..t{curve.seq_len}, t1..t{curve.seq_len}] ({curve.n_sequences} of them)"
        st.caption(
            f"Olsson et al. 2022: every checkpoint scored on the same {layout}: "
            + (
                "random tokens, the paper's probe."
                if curve.probe == "random tokens"
                else "spans of the model's held-out text, each repeated once."
            )
        )
        st.plotly_chart(curve.figure(), key="induction-figure")
        st.dataframe(curve.rows(), hide_index=True)
