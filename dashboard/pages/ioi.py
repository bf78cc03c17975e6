"""IOI circuit: a stored run's circuit as a diagram, its patching heatmaps, direct logit
attribution and faithfulness (Wang et al. 2022); any stored run can be picked."""

import streamlit as st

from dashboard import common
from interp import dashboard as views

st.title("IOI circuit")
sel = common.selection()
record = common.pick_run("ioi", "Stored IOI run")
if record is None:
    common.offer_experiment("ioi")
    model = common.model(sel)
    if model is not None and views.planted_roles(model):
        placement = model.interp_record.reference["placement"]
        st.plotly_chart(
            views.circuit_figure(placement, model.cfg.n_layers, f"Planted circuit of {sel.model}"),
            key="planted-circuit",
        )
    st.stop()
