"""Plotly figures for attention-pattern scores: one layer x head heatmap per score, sized so
that GPT-2 small's 12 layers and XL's 48 both fit on a screen (:func:`grid_height`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.methods.attention import HeadScores, IOIAttention


def grid_height(
    n_rows: int, base: int = 120, row: int = 36, most: int = 900, least: int = 280
) -> int:
    """Pixels for a heatmap of ``n_rows`` layers: ``row`` px a layer while that fits in
    ``most``, then rows shrink (to 12 px) so 48 layers stay one screen; never under ``least``,
    so a 2-layer model's heatmap and colour bar stay readable.

    >>> grid_height(2), grid_height(12), grid_height(48)
    (280, 552, 900)
    """
    return int(max(least, min(base + row * n_rows, max(most, base + 12 * n_rows))))


def score_panels(scores: dict[str, np.ndarray], title: str) -> go.Figure:
    """Side-by-side ``[layer, head]`` heatmaps on a shared 0..1 colour scale."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(scores)
    fig = make_subplots(
        rows=1, cols=len(names), subplot_titles=[n.replace("_", " ") for n in names]
    )
    for i, name in enumerate(names):
        z = scores[name]
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=list(range(z.shape[1])),
                y=list(range(z.shape[0])),
                coloraxis="coloraxis",
                hovertemplate=f"head %{{y}}.%{{x}}<br>{name} %{{z:.3f}}<extra></extra>",
            ),
            row=1,
            col=i + 1,
        )
    n_layers = next(iter(scores.values())).shape[0]
    fig.update_layout(
        title=title,
        coloraxis=dict(colorscale="Blues", cmin=0, cmax=1),
        height=grid_height(n_layers, base=180, row=30),
    )
    fig.update_yaxes(autorange="reversed", dtick=1)
    fig.update_xaxes(dtick=1)
    return fig


def head_scores_figure(result: HeadScores) -> go.Figure:
    return score_panels(
        result.scores(),
        f"head scores on {result.n_sequences} repeated random sequences of {result.seq_len}",
    )


def ioi_attention_figure(result: IOIAttention) -> go.Figure:
    return score_panels(
        {
            "END->IO": result.end_to_io,
            "END->S": result.end_to_s1 + result.end_to_s2,
            "S2->S1": result.s2_to_s1,
            "S2->S1+1": result.s2_to_s1_plus_1,
            "p->p-1": result.previous_token,
        },
        f"attention between IOI positions ({result.n_prompts} prompts)",
    )
