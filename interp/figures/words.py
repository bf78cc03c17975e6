"""Plotly figures for word vectors: nearest neighbours, an analogy's answers, a 2-D PCA map
of chosen words, and same- vs different-sense similarity by layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.methods.polysemy import SenseSimilarity
    from interp.methods.words import WordAnalogy, WordNeighbours, WordProjection

SAME, DIFFERENT = "#2a9d8f", "#e76f51"


def _bars(labels: list[str], values: np.ndarray, title: str, colours: list[str]) -> go.Figure:
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Bar(
            x=values,
            y=[f"{i + 1}. {t!r}" for i, t in enumerate(labels)],
            orientation="h",
            marker_color=colours,
            hovertemplate="%{y}<br>cosine %{x:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="cosine similarity",
        yaxis=dict(autorange="reversed"),
        height=max(260, 24 * len(labels) + 120),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


def neighbours_figure(result: WordNeighbours) -> go.Figure:
    where = f" in “{result.context}”" if result.context else ""
    return _bars(
        result.tokens,
        result.cosines,
        f"nearest to {result.word!r}{where} · {result.space} of {result.model_name}",
        [SAME] * len(result.tokens),
    )


def analogy_figure(result: WordAnalogy) -> go.Figure:
    a, b, c = result.words
    colours = [
        SAME if result.expected and t.strip() == result.expected else "#8d99ae"
        for t in result.tokens
    ]
    rank = f" · {result.expected!r} ranks #{result.expected_rank}" if result.expected else ""
    return _bars(
        result.tokens,
        result.cosines,
        f"{a} − {b} + {c} ({result.question}) in {result.space}{rank}",
        colours,
    )


def projection_figure(result: WordProjection) -> go.Figure:
    """The words as labelled points on PC1 x PC2, coloured by group."""
    import plotly.graph_objects as go

    fig = go.Figure()
    groups = list(dict.fromkeys(result.groups))
    for group in groups:
        idx = [i for i, g in enumerate(result.groups) if g == group]
        fig.add_trace(
            go.Scatter(
                x=result.coords[idx, 0],
                y=result.coords[idx, 1],
                mode="markers+text",
                text=[result.words[i] for i in idx],
                textposition="top center",
                name=group or "words",
                showlegend=bool(group),
                hovertemplate="%{text}<br>PC1 %{x:.3f}<br>PC2 %{y:.3f}<extra></extra>",
            )
        )
    ev = result.explained
    fig.update_layout(
        title=f"PCA of {len(result.words)} words · {result.space} of {result.model_name}",
        xaxis_title=f"PC1 ({ev[0]:.0%} of the variance)",
        yaxis_title=f"PC2 ({ev[1]:.0%})",
        height=480,
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


def sense_figure(result: SenseSimilarity) -> go.Figure:
    """Mean cosine of same-sense and different-sense pairs by layer (bold), and per word kind
    (homonyms dotted, polysemes dashed)."""
    import plotly.graph_objects as go

    x = list(range(len(result.layers)))
    fig = go.Figure()
    for name, y, colour in (
        ("same sense", result.same_mean, SAME),
        ("different sense", result.different_mean, DIFFERENT),
    ):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines+markers",
                line=dict(color=colour, width=3),
                customdata=result.layers,
                hovertemplate="%{customdata}<br>" + name + " %{y:.3f}<extra></extra>",
            )
        )
    for word_kind, dash in (("homonym", "dot"), ("polyseme", "dash")):
        if word_kind not in result.word_kinds:
            continue
        same, diff = result.kind_means(word_kind)
        for name, y, colour in (("same", same, SAME), ("different", diff, DIFFERENT)):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    name=f"{word_kind}s: {name}",
                    mode="lines",
                    line=dict(color=colour, dash=dash, width=1.5),
                    hovertemplate=f"{word_kind}s, {name} sense %{{y:.3f}}<extra></extra>",
                )
            )
    centred = " (centred)" if result.centered else ""
    fig.update_layout(
        title=f"Sense similarity by layer{centred}: {len(result.words)} words, "
        f"{result.n_same_pairs} same- and {result.n_different_pairs} different-sense pairs "
        f"· {result.model_name}",
        xaxis=dict(
            title="layer (0 = token embedding)",
            tickmode="array",
            tickvals=x,
            ticktext=[str(i) for i in x],
        ),
        yaxis_title="mean cosine similarity",
        height=440,
        margin=dict(l=10, r=10, t=60, b=10),
    )
    return fig
