"""Plotly figures for the IOI analyses: patching heatmaps, path-patching effects, attribution
vs exact patching, the circuit found (class per head, and as a diagram along the paper's
paths) and the circuit's minimality scores. Each takes a result object (or plain numbers)
and returns a ``plotly.graph_objects.Figure``. Heads are labelled in their dotted form
(``6.1``, :attr:`interp.core.components.Head.key`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from interp.core.components import Head, parse_head
from interp.core.ioi_roles import CLASSES, PATHS, POSITIONS, class_key, label

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.methods.attribution import AttributionResult
    from interp.methods.patching import PatchingResult
    from interp.methods.path_patching import PathPatchingResult
    from interp.studies.ioi_circuit import CircuitEvaluation, IOICircuit

#: one colour per IOI class, keyed from the one list of classes (interp.core.ioi_roles)
CLASS_COLORS: dict[str, str] = dict(
    zip(
        CLASSES,
        # previous-token, duplicate-token, induction, S-inhibition, name mover, negative, backup
        ("#8c564b", "#e377c2", "#ff7f0e", "#9467bd", "#2ca02c", "#d62728", "#17becf"),
        strict=True,
    )
)
OTHER_COLOR = "#7f7f7f"


def _layout(fig, title: str, x: str, y: str, rows: int) -> go.Figure:
    fig.update_layout(
        title=title,
        xaxis=dict(title=x),
        yaxis=dict(title=y, autorange="reversed", dtick=1),
        height=160 + 30 * rows,
        margin=dict(l=10, r=10, t=60, b=40),
    )
    return fig


def heatmap(z: np.ndarray, x: list, y: list, title: str, xlabel: str, ylabel: str, zlabel: str):
    """A diverging heatmap centred on 0."""
    import plotly.graph_objects as go

    bound = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(v) for v in x],
            y=[str(v) for v in y],
            colorscale="RdBu",
            zmid=0,
            zmin=-bound or -1,
            zmax=bound or 1,
            colorbar=dict(title=zlabel),
            hovertemplate=f"{ylabel} %{{y}}, {xlabel} %{{x}}<br>{zlabel} %{{z:.3f}}<extra></extra>",
        )
    )
    return _layout(fig, title, xlabel, ylabel, len(y))


def patching_figure(result: PatchingResult) -> go.Figure:
    """Normalised patching metric (0 = corrupted, 1 = clean) over the sweep's axes; a
    per-position head sweep is drawn as layer x position with one panel per head."""
    title = f"{result.direction} patching of {result.activation} (normalised: 0 corrupted, 1 clean)"
    if result.axes == ["layer", "position", "head"]:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        heads = result.labels["head"]
        fig = make_subplots(rows=1, cols=len(heads), subplot_titles=[f"head {h}" for h in heads])
        for i in range(len(heads)):
            fig.add_trace(
                go.Heatmap(
                    z=result.normalised[:, :, i],
                    x=result.labels["position"],
                    y=result.labels["layer"],
                    coloraxis="coloraxis",
                ),
                row=1,
                col=i + 1,
            )
        fig.update_layout(coloraxis=dict(colorscale="RdBu", cmid=0.5), title=title)
        fig.update_yaxes(autorange="reversed")
        return fig
    ylab, xlab = result.axes
    return heatmap(
        result.normalised,
        result.labels[xlab],
        result.labels[ylab],
        title,
        xlab,
        ylab,
        "normalised",
    )


def path_patching_figure(result: PathPatchingResult) -> go.Figure:
    n_layers, n_heads = result.effect.shape
    return heatmap(
        result.effect,
        list(range(n_heads)),
        list(range(n_layers)),
        f"path patching: sender -> {result.target} (effect / clean-corrupted gap)",
        "head",
        "layer",
        "effect",
    )


def attribution_figure(result: AttributionResult) -> go.Figure:
    """Attribution estimate vs exact patching effect, one point per head."""
    import plotly.graph_objects as go

    n_layers, n_heads = result.attribution.shape
    labels = [Head(lyr, h).key for lyr in range(n_layers) for h in range(n_heads)]
    fig = go.Figure(
        go.Scatter(
            x=result.exact.ravel(),
            y=result.attribution.ravel(),
            mode="markers",
            text=labels,
            hovertemplate="head %{text}<br>exact %{x:.3f}<br>attribution %{y:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"attribution vs exact {result.direction} patching (r = {result.correlation:.3f})",
        xaxis=dict(title="exact change of the metric"),
        yaxis=dict(title="attribution estimate"),
        height=420,
    )
    return fig


def circuit_figure(result: IOICircuit) -> go.Figure:
    """Layer x head grid, each circuit head coloured by its class."""
    import plotly.graph_objects as go

    n_layers, n_heads = result.dla.shape
    fig = go.Figure()
    for cls, stored in result.circuit.items():
        heads = [parse_head(h) for h in stored]
        if not heads:
            continue
        fig.add_trace(
            go.Scatter(
                x=[hd.head for hd in heads],
                y=[hd.layer for hd in heads],
                mode="markers+text",
                text=[hd.key for hd in heads],
                textfont=dict(color="white", size=10),
                marker=dict(size=34, symbol="square", color=CLASS_COLORS.get(cls, OTHER_COLOR)),
                name=label(cls),
            )
        )
    fig.update_layout(
        title=f"IOI circuit found (logit diff {result.clean_logit_diff:.2f})",
        xaxis=dict(title="head", range=[-0.6, n_heads - 0.4], dtick=1),
        yaxis=dict(title="layer", range=[n_layers - 0.4, -0.6], dtick=1),
        height=160 + 40 * n_layers,
        plot_bgcolor="white",
    )
    return fig


def evaluation_figure(result: CircuitEvaluation) -> go.Figure:
    """Minimality score of every circuit head, with the paper's threshold."""
    import plotly.graph_objects as go

    heads = list(result.minimality)
    scores = [result.minimality[h]["score"] for h in heads]
    colors = [CLASS_COLORS.get(result.minimality[h]["class"], OTHER_COLOR) for h in heads]
    fig = go.Figure(go.Bar(x=heads, y=scores, marker_color=colors))
    fig.add_hline(y=result.minimality_threshold, line_dash="dash", annotation_text="threshold")
    fig.update_layout(
        title=f"minimality (fraction of F(M)); faithfulness F(C)/F(M) = {result.faithfulness:.3f}",
        xaxis=dict(title="head"),
        yaxis=dict(title="|F(C\\(K∪v)) − F(C\\K)| / F(M)"),
        height=400,
    )
    return fig


def circuit_diagram(
    classes: Mapping[str, Sequence], n_layers: int, title: str = "IOI circuit"
) -> go.Figure:
    """The circuit as a diagram: heads (any form :func:`~interp.core.components.parse_head`
    reads) placed by layer (x) and class (rows, in the order information flows), coloured by
    class, with arrows from every head of a sender class to every head of its receivers along
    the paper's paths (:data:`interp.core.ioi_roles.PATHS`), ending at the logits. Class names
    may be written loosely ("Name movers"); unknown classes get rows of their own.

    >>> fig = circuit_diagram({"name_mover": [[6, 1], [6, 3]], "s_inhibition": ["4.2"]}, 8)
    >>> len(fig.layout.annotations)  # 4.2 -> 6.1, 4.2 -> 6.3, 6.1 -> logits, 6.3 -> logits
    4
    """
    import plotly.graph_objects as go

    groups: dict[str, list[Head]] = {}
    for name, heads in classes.items():
        groups.setdefault(class_key(name), []).extend(parse_head(h) for h in heads)
    order = [c for c in CLASSES if groups.get(c)] + sorted(
        c for c in groups if c not in CLASSES and groups[c]
    )
    row = {c: i for i, c in enumerate(order)}
    points: dict[str, list[tuple[float, float, str]]] = {}
    for c in order:
        heads = sorted(set(groups[c]))
        for hd in heads:
            same = [h for h in heads if h.layer == hd.layer]
            offset = (same.index(hd) - (len(same) - 1) / 2) * 0.36
            points.setdefault(c, []).append((hd.layer + offset, -row[c], hd.key))
    logits = (n_layers + 0.2, -(len(order) - 1) / 2)
    fig = go.Figure()
    for sender, receiver in PATHS:
        if sender not in points or (receiver != "logits" and receiver not in points):
            continue
        targets = [logits] if receiver == "logits" else [(x, y) for x, y, _ in points[receiver]]
        for x0, y0, _ in points[sender]:
            for x1, y1 in targets:
                fig.add_annotation(
                    x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y",
                    showarrow=True, arrowhead=2, arrowsize=1, arrowwidth=1,
                    arrowcolor="rgba(120,120,120,0.45)", standoff=12, startstandoff=12, text="",
                )  # fmt: skip
    for c in order:
        xs, ys, labels = zip(*points[c])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers+text",
                text=labels,
                textposition="middle center",
                textfont=dict(color="white", size=10),
                marker=dict(size=30, color=CLASS_COLORS.get(c, OTHER_COLOR)),
                name=f"{label(c)} ({POSITIONS.get(c, '?')})",
                hovertemplate="head %{text}<br>" + label(c) + "<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[logits[0]], y=[logits[1]], mode="markers+text", text=["logits"],
            textposition="middle right", marker=dict(size=18, color="black", symbol="square"),
            showlegend=False, hoverinfo="skip",
        )
    )  # fmt: skip
    fig.update_layout(
        title=title,
        xaxis=dict(
            title="layer",
            range=[-0.7, n_layers + 1.2],
            tickvals=list(range(n_layers)),
            zeroline=False,
        ),
        yaxis=dict(visible=False, range=[-len(order) + 0.4, 0.6]),
        height=140 + 62 * len(order),
        margin=dict(l=10, r=10, t=50, b=40),
        legend=dict(title="class (position)"),
        plot_bgcolor="white",
    )
    return fig


def minimality_bars(
    heads: Sequence[str], scores: Sequence[float], classes: Sequence[str], threshold: float = 0.01
) -> go.Figure:
    """Minimality of each circuit head (fraction of F(M)), coloured by class, with the
    paper's 1% bar."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Bar(
            x=list(heads),
            y=list(scores),
            marker_color=[CLASS_COLORS.get(c, OTHER_COLOR) for c in classes],
            hovertemplate="head %{x}<br>minimality %{y:.3f}<extra></extra>",
        )
    )
    fig.add_hline(
        y=threshold, line_dash="dash", annotation_text=f"{100 * threshold:g}% of F(M) (paper's bar)"
    )
    fig.update_layout(
        title="minimality: |F(C \\ (K ∪ v)) − F(C \\ K)| / F(M) per circuit head",
        xaxis_title="head",
        yaxis_title="fraction of F(M)",
        height=380,
    )
    return fig
