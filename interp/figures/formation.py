"""Plotly figure of circuit formation over training: the IOI metric and every head's
evidence (DLA at END, attention END -> IO) as functions of the training step."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from interp.core.components import Head

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.studies.formation import CircuitFormation


def formation_figure(result: CircuitFormation, top: int = 6) -> go.Figure:
    """Three stacked panels sharing the step axis: IO > S and logit difference; DLA of the
    ``top`` heads with the largest final |DLA| (the name-mover threshold dashed); their
    attention from END to IO. The first step with IO > S >= 90% is marked."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    steps = np.asarray(result.steps)
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=(
            "IOI metric",
            "direct logit attribution at END (IO - S)",
            "attention END -> IO",
        ),
        specs=[[{"secondary_y": True}], [{}], [{}]],
    )
    fig.add_trace(go.Scatter(x=steps, y=result.io_over_s, name="IO > S"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=steps, y=result.logit_diff, name="logit diff", line=dict(dash="dot")),
        row=1,
        col=1,
        secondary_y=True,
    )
    final = np.abs(result.dla[-1]).ravel()
    n_heads = result.dla.shape[2]
    for flat in np.argsort(-final)[:top]:
        layer, head = divmod(int(flat), n_heads)
        label = str(Head(layer, head))
        fig.add_trace(
            go.Scatter(x=steps, y=result.dla[:, layer, head], name=label, legendgroup=label),
            row=2,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=result.end_to_io[:, layer, head],
                name=label,
                legendgroup=label,
                showlegend=False,
            ),
            row=3,
            col=1,
        )
    fig.add_hline(y=result.threshold_logits, line_dash="dash", line_color="gray", row=2, col=1)
    jump = result.jump_step()
    if jump is not None:
        fig.add_vline(x=jump, line_dash="dot", line_color="red")
    fig.update_layout(title=f"circuit formation {result.run}".strip(), height=800)
    fig.update_xaxes(title_text="training step", row=3, col=1)
    return fig
