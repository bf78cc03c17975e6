"""Plotly figures for logit-lens results: a stream x position heatmap with the top token
written in each cell, and a trajectory of target tokens across layers (tuned-lens style)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.methods.logit_lens import LogitLensResult

METRICS = {"prob": "probability", "logit": "logit", "rank": "rank (1 = top)"}


def heatmap(result: LogitLensResult, batch: int = 0) -> go.Figure:
    """Rows: decoded streams (embedding at the bottom); columns: positions; colour: top-1
    probability; text: the top-1 token."""
    import plotly.graph_objects as go

    probs = result.top_probs[batch, :, :, 0]  # [stream, pos]
    text = result.top_tokens(batch)
    inputs = [result.str_tokens[batch][p] for p in result.positions]
    columns = [f"{p}: {tok}" for p, tok in zip(result.positions, inputs)]
    ids, top = result.top_ids[batch], result.top_probs[batch]  # [stream, pos, k]

    def cell(s: int, c: int) -> str:
        return "<br>".join(f"{result.token(i)!r} {p:.3f}" for i, p in zip(ids[s, c], top[s, c]))

    hover = [[cell(s, c) for c in range(len(result.positions))] for s in range(len(result.streams))]
    fig = go.Figure(
        go.Heatmap(
            z=probs,
            x=columns,
            y=result.streams,
            text=text,
            texttemplate="%{text}",
            customdata=np.asarray(hover, dtype=object),
            hovertemplate="%{y} @ %{x}<br>%{customdata}<extra></extra>",
            colorscale="Blues",
            zmin=0.0,
            zmax=1.0,
            colorbar={"title": "top-1 p"},
        )
    )
    fig.update_layout(
        title=f"Logit lens — {result.model_name}",
        xaxis_title="position: input token",
        yaxis_title="decoded stream",
        height=max(300, 22 * len(result.streams) + 150),
    )
    return fig


def trajectory(
    result: LogitLensResult, batch: int = 0, position: int = -1, metric: str = "prob"
) -> go.Figure:
    """One line per target token: its probability, logit or rank at ``position`` per stream."""
    import plotly.graph_objects as go

    from interp.core.errors import InterpError

    if metric not in METRICS:
        raise InterpError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    col = result.column(position)
    values = {
        "prob": result.target_probs,
        "logit": result.target_logits,
        "rank": result.target_ranks,
    }[metric]
    fig = go.Figure()
    for t, target in enumerate(result.targets):
        fig.add_trace(
            go.Scatter(
                x=result.streams,
                y=values[batch, :, col, t],
                mode="lines+markers",
                name=repr(target),
            )
        )
    tok = result.str_tokens[batch][result.positions[col]]
    fig.update_layout(
        title=f"Targets across layers at position {result.positions[col]} ({tok!r})",
        xaxis_title="decoded stream",
        yaxis_title=METRICS[metric],
    )
    if metric == "rank":
        fig.update_yaxes(type="log", autorange="reversed")
    return fig
