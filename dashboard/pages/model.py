"""Model and prompt: what is loaded, how the prompt tokenises, what the model predicts."""

import streamlit as st

from dashboard import common
from interp import views

st.title("Model and prompt")
sel = common.selection()
model = common.model(sel)
if model is None:
    st.stop()

left, right = st.columns([2, 3])
with left:
    st.subheader("Model")
    st.dataframe(views.model_rows(model), hide_index=True)
    roles = views.planted_roles(model)
    if roles:
        st.caption("Planted mechanisms (ground truth of this reference model)")
        st.dataframe(
            [{"head": f"{lh[0]}.{lh[1]}", "role": r} for lh, r in sorted(roles.items())],
            hide_index=True,
        )
with right:
    st.subheader("Prompt")
    with common.shown_errors():
        view = common.compute("interp.views:prompt_view", sel.prompt, label="Running…")
        st.caption(f"{len(view.tokens)} tokens (with BOS)")
        st.dataframe(
            [
                {"position": i, "token": t, "id": t_id}
                for i, (t, t_id) in enumerate(zip(view.tokens, view.token_ids))
            ],
            hide_index=True,
            height=min(400, 38 + 35 * len(view.tokens)),
        )
        st.subheader("Next token")
        st.metric(
            "Top prediction",
            repr(view.top_tokens[0]),
            f"p = {view.top_probs[0]:.3f}",
            delta_color="off",
            delta_arrow="off",
        )
        st.plotly_chart(view.figure(), key="next-token")
        st.dataframe(view.rows(), hide_index=True)
