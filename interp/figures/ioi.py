"""Plotly figures for the IOI analyses: patching heatmaps, path-patching effects, attribution
vs exact patching, the circuit found (class per head) and the circuit's minimality scores.
Each takes a result object and returns a ``plotly.graph_objects.Figure``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.methods.attribution import AttributionResult
    from interp.methods.patching import PatchingResult
    from interp.methods.path_patching import PathPatchingResult
    from interp.studies.ioi_circuit import CircuitEvaluation, IOICircuit

CLASS_COLORS = {
    "previous_token": "#8c564b",
    "duplicate_token": "#e377c2",
    "induction": "#ff7f0e",
    "s_inhibition": "#9467bd",
    "name_mover": "#2ca02c",
    "backup_name_mover": "#17becf",
    "negative_name_mover": "#d62728",
}


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
    labels = [f"{lyr}.{h}" for lyr in range(n_layers) for h in range(n_heads)]
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
    for cls, heads in result.circuit.items():
        if not heads:
            continue
        fig.add_trace(
            go.Scatter(
                x=[h for _, h in heads],
                y=[lyr for lyr, _ in heads],
                mode="markers+text",
                text=[f"{lyr}.{h}" for lyr, h in heads],
                textfont=dict(color="white", size=10),
                marker=dict(size=34, symbol="square", color=CLASS_COLORS.get(cls, "#7f7f7f")),
                name=cls.replace("_", " "),
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
    colors = [CLASS_COLORS.get(result.minimality[h]["class"], "#7f7f7f") for h in heads]
    fig = go.Figure(go.Bar(x=heads, y=scores, marker_color=colors))
    fig.add_hline(y=result.minimality_threshold, line_dash="dash", annotation_text="threshold")
    fig.update_layout(
        title=f"minimality (fraction of F(M)); faithfulness F(C)/F(M) = {result.faithfulness:.3f}",
        xaxis=dict(title="head"),
        yaxis=dict(title="|F(C\\(K∪v)) − F(C\\K)| / F(M)"),
        height=400,
    )
    return fig
