"""interp dashboard: ``streamlit run app.py``.

Browse attention heads and what the experiments found, on any GPT-2-family model or on the
built-in reference models. Navigation and the shared sidebar live here; each page is a module
in ``dashboard/pages/`` that only draws; everything is computed by :mod:`interp`.
"""

import streamlit as st

from dashboard import common

st.set_page_config(page_title="interp workbench", page_icon=":material/biotech:", layout="wide")

PAGES = [
    st.Page(
        "dashboard/pages/model.py", title="Model and prompt", icon=":material/tune:", default=True
    ),
    st.Page("dashboard/pages/attention.py", title="Attention heads", icon=":material/grid_view:"),
    st.Page("dashboard/pages/ioi.py", title="IOI circuit", icon=":material/hub:"),
    st.Page("dashboard/pages/formation.py", title="Circuit formation", icon=":material/timeline:"),
    st.Page("dashboard/pages/edges.py", title="Edge circuits", icon=":material/share:"),
    st.Page("dashboard/pages/lens.py", title="Logit lens", icon=":material/layers:"),
    st.Page("dashboard/pages/ffn.py", title="FFN memories", icon=":material/memory:"),
    st.Page("dashboard/pages/words.py", title="Words", icon=":material/translate:"),
    st.Page("dashboard/pages/runs.py", title="Runs", icon=":material/history:"),
]

page = st.navigation(PAGES)
common.sidebar()
page.run()
