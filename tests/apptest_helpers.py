"""What the dashboard tests read from a Streamlit ``AppTest``: its plotly figures as JSON,
plotly's arrays as numpy, and the page's text."""

from __future__ import annotations

import base64
import json

import numpy as np


def plotly_figures(at) -> list[dict]:
    """Every plotly chart on the page, as plotly JSON (``data`` and ``layout``)."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def array(value) -> np.ndarray:
    """A plotly JSON array (plain list, or plotly 6+'s base64 typed array) as numpy."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = [int(n) for n in shape.split(",")]
        return flat.reshape(shape) if shape else flat
    return np.asarray(value)


def texts(at) -> str:
    """The page's markdown, captions, info boxes and subheaders, one per line."""
    return "\n".join(str(e.value) for e in [*at.markdown, *at.caption, *at.info, *at.subheader])
