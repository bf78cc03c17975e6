"""The figure of an ablation: the metric per prompt before and after."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.methods.ablation import AblationResult


def ablation_figure(result: AblationResult) -> go.Figure:
    """Per-prompt metric before vs after ablation (a scatter with the diagonal), or the two
    means as bars for runs stored without per-prompt values."""
    import plotly.graph_objects as go

    title = f"{result.method}-ablating {' '.join(result.components)}: {result.metric}"
    before, after = np.asarray(result.values_before), np.asarray(result.values_after)
    if before.size == 0:
        fig = go.Figure(go.Bar(x=["before", "after"], y=[result.before, result.after]))
        fig.update_layout(title=title, yaxis_title=result.metric, height=360)
        return fig
    lo = float(min(before.min(), after.min(), 0.0))
    hi = float(max(before.max(), after.max(), 0.0))
    fig = go.Figure()
    diagonal = dict(dash="dash", color="grey")
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="unchanged", line=diagonal))
    hover = "before %{x:.3f}<br>after %{y:.3f}<extra></extra>"
    fig.add_trace(go.Scatter(x=before, y=after, mode="markers", name="prompt", hovertemplate=hover))
    fig.update_layout(
        title=title, xaxis_title=f"{result.metric} before", yaxis_title="after", height=420
    )
    return fig
