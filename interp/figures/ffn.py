"""Plotly figures for the FFN key-value analyses (Geva et al. 2021, 2022).

Each builder takes a result dataclass from :mod:`interp.methods.ffn`,
:mod:`interp.methods.mining` or :mod:`interp.methods.prediction` and returns a
``plotly.graph_objects.Figure``; the results' ``figure()`` methods call them, so scripts and
the dashboard draw the same pictures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from interp.core.components import Neuron

if TYPE_CHECKING:
    import plotly.graph_objects as go


def _fmt(pairs: list[tuple[str, float]]) -> str:
    return ", ".join(f"{t.strip() or repr(t)} ({v:+.2f})" for t, v in pairs)


def value_table_figure(values, neurons=None, n: int = 10) -> go.Figure:
    """A table: for each neuron, its value's top and bottom tokens with scores. Without
    ``neurons``, the 20 neurons with the highest top score."""
    import plotly.graph_objects as go

    if neurons is None:
        best = np.argsort(-values.top_scores[:, :, 0], axis=None, kind="stable")[:20]
        slots, idx = np.unravel_index(best, values.top_scores.shape[:2])
        neurons = [(values.layers[s], int(i)) for s, i in zip(slots, idx)]
    names = [str(Neuron(layer, i)) for layer, i in neurons]
    tops = [_fmt(values.top(layer, i, n)) for layer, i in neurons]
    bottoms = [_fmt(values.bottom(layer, i, n)) for layer, i in neurons]
    norms = [f"{values.value_norms[values.slot(layer), i]:.2f}" for layer, i in neurons]
    fig = go.Figure(
        go.Table(
            columnwidth=[1, 1, 6, 6],
            header={"values": ["neuron", "|value|", "top tokens (score)", "bottom tokens"]},
            cells={"values": [names, norms, tops, bottoms], "align": "left"},
        )
    )
    fig.update_layout(title=f"FFN values projected on the vocabulary — {values.model}")
    return fig


def agreement_figure(agreement) -> go.Figure:
    """Per-layer key-value agreement (%) against the shuffled baseline."""
    import plotly.graph_objects as go

    x = list(agreement.layers)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=100 * agreement.rate, mode="lines+markers", name="measured"))
    fig.add_trace(
        go.Scatter(
            x=x,
            y=100 * agreement.baseline,
            error_y={"type": "data", "array": 100 * agreement.baseline_std},
            mode="lines+markers",
            name=f"shuffled ({agreement.n_shuffles} permutations)",
            line={"dash": "dash"},
        )
    )
    fig.update_layout(
        title=f"Key-value agreement: value's top token = next token of the top trigger"
        f" — {agreement.model}",
        xaxis_title="layer",
        yaxis_title="% of neurons",
    )
    return fig


def mining_figure(mining, layer: int | None = None) -> go.Figure:
    """Top-1 trigger activation of every neuron (heatmap over layers, or bars for one)."""
    import plotly.graph_objects as go

    top1 = np.where(np.isfinite(mining.activation[:, :, 0]), mining.activation[:, :, 0], np.nan)
    if layer is not None:
        s = mining.layers.index(layer)
        fig = go.Figure(go.Bar(x=np.arange(top1.shape[1]), y=top1[s]))
        fig.update_layout(xaxis_title="neuron", yaxis_title="top activation")
        title = f"layer {layer}"
    else:
        fig = go.Figure(go.Heatmap(z=top1, y=[str(x) for x in mining.layers], colorscale="Viridis"))
        fig.update_layout(xaxis_title="neuron", yaxis_title="layer")
        title = "every layer"
    fig.update_layout(
        title=f"Top trigger activation per neuron, {title} ({mining.n_tokens:,} tokens)"
    )
    return fig


def attribution_figure(attribution, n: int = 20) -> go.Figure:
    """Per-layer direct effect of attention and MLP, and the top components."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.45, 0.55],
        subplot_titles=("per layer", f"top {n} components"),
    )
    layers = np.arange(attribution.head_scores.shape[0])
    fig.add_trace(go.Bar(x=layers, y=attribution.attn_layers, name="attention heads"), 1, 1)
    fig.add_trace(go.Bar(x=layers, y=attribution.mlp_layers, name="MLP neurons"), 1, 1)
    rows = attribution.table[:n][::-1]
    fig.add_trace(
        go.Bar(
            x=[r["score"] for r in rows],
            y=[r["component"] for r in rows],
            orientation="h",
            name="component",
            marker={"color": ["#636efa" if r["kind"] == "head" else "#ef553b" for r in rows]},
            showlegend=False,
        ),
        1,
        2,
    )
    versus = f" − '{attribution.other}'" if attribution.other else ""
    fig.update_layout(
        title=f"What pushes '{attribution.target}'{versus} after “{attribution.prompt}”"
        f" (logit {attribution.logit:.2f}, p={attribution.prob:.2f})",
        barmode="group",
    )
    fig.update_xaxes(title_text="layer", row=1, col=1)
    fig.update_xaxes(title_text="direct logit effect", row=1, col=2)
    return fig


def intervention_figure(effect) -> go.Figure:
    """Top tokens' probabilities before and after switching the components."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("before", "after"))
    for col, top in ((1, effect.top_before), (2, effect.top_after)):
        fig.add_trace(
            go.Bar(x=[p for _, p in top][::-1], y=[t for t, _ in top][::-1], orientation="h"),
            1,
            col,
        )
    fig.update_layout(
        title=f"{', '.join(effect.components)} × {effect.scale:g} on “{effect.prompt}”",
        showlegend=False,
    )
    return fig
