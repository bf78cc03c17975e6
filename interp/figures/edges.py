"""Figures of edge circuits: the edge graph (line width = score) and faithfulness curves.

Both draw numpy data (no result classes are imported at run time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go


def _position(name: str, n_layers: int, n_heads: int) -> tuple[float, float]:
    """Where a node sits: layers bottom (input) to top (logits), heads left to right and the
    MLP at the right end of its layer."""
    if name == "input":
        return (n_heads - 1) / 2, 0.0
    if name == "logits":
        return (n_heads - 1) / 2, 2.0 * n_layers + 1
    if name.startswith("m"):
        return float(n_heads), 2.0 * int(name[1:]) + 2
    layer, head = name[1:].split(".h")
    return float(head), 2.0 * int(layer) + 1


def edge_graph_figure(
    scores: np.ndarray,
    in_graph: np.ndarray,
    source_names: Sequence[str],
    destination_names: Sequence[str],
    owner: np.ndarray,
    n_layers: int,
    n_heads: int,
    title: str = "",
) -> go.Figure:
    """The kept edges as lines from writer to reader node, width ~ |score|, colour by the
    reader input (q, k, v, MLP / logits); nodes with a kept edge are drawn."""
    fig = go.Figure()
    kept = np.argwhere(in_graph)
    top = float(np.nanmax(np.abs(scores[in_graph]))) if len(kept) else 1.0
    colours = {"q": "#1f77b4", "k": "#2ca02c", "v": "#d62728", "": "#7f7f7f"}
    reader_names = ["logits" if o < 0 else source_names[o] for o in owner]
    used: set[str] = set()
    for s, d in kept:
        src, dst = source_names[s], reader_names[d]
        x0, y0 = _position(src, n_layers, n_heads)
        x1, y1 = _position(dst, n_layers, n_heads)
        qkv = destination_names[d][-2] if destination_names[d].endswith(">") else ""
        score = float(scores[s, d])
        fig.add_trace(
            go.Scatter(
                x=[x0, x1],
                y=[y0, y1],
                mode="lines",
                line={"width": 0.5 + 6 * abs(score) / (top or 1.0), "color": colours[qkv]},
                hovertext=f"{src}->{destination_names[d]}: {score:.3g}",
                hoverinfo="text",
                showlegend=False,
                opacity=0.6 if score >= 0 else 0.35,
            )  # fmt: skip
        )
        used.update((src, dst))
    names = sorted(used, key=lambda n: _position(n, n_layers, n_heads)[::-1])
    xy = np.array([_position(n, n_layers, n_heads) for n in names]).reshape(-1, 2)
    fig.add_trace(
        go.Scatter(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers+text",
            text=names,
            textposition="top center",
            marker={"size": 12, "color": "#ffbf00", "line": {"width": 1, "color": "black"}},
            hoverinfo="text",
            showlegend=False,
        )  # fmt: skip
    )
    fig.update_layout(
        title=title or f"{len(kept)} edges",
        xaxis={"visible": False}, yaxis={"title": "layer (bottom: input)", "showticklabels": False},
        height=160 + 60 * n_layers, margin={"l": 40, "r": 20, "t": 50, "b": 20},
    )  # fmt: skip
    return fig


def faithfulness_figure(
    fractions: np.ndarray, curves: Mapping[str, np.ndarray], title: str = ""
) -> go.Figure:
    """Faithfulness against the fraction of edges kept (log x axis), one line per curve."""
    fig = go.Figure()
    for name, values in curves.items():
        fig.add_trace(go.Scatter(x=100 * np.asarray(fractions), y=values, mode="lines+markers",
                                 name=name))  # fmt: skip
    fig.add_hline(y=1.0, line_dash="dot", line_color="grey")
    fig.update_layout(
        title=title, xaxis={"title": "edges kept (%)", "type": "log"},
        yaxis={"title": "faithfulness f"}, height=400,
    )  # fmt: skip
    return fig
