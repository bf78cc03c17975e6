"""Plotly figure of induction heads over training: the best head's induction score per
checkpoint (and the best previous-token score) beside the training loss, on one step axis."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from interp.studies.induction import InductionOverTraining


def induction_figure(result: InductionOverTraining, threshold: float = 0.5) -> go.Figure:
    """Two panels sharing the step axis: max induction and max previous-token score per
    checkpoint (the threshold dashed), and the training (and held-out) loss. The first
    checkpoint with an induction head at ``threshold`` is marked on both."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            f"head scores on repeated {result.probe} (best head per checkpoint)",
            "loss",
        ),  # fmt: skip
        horizontal_spacing=0.1,
    )
    steps = result.steps
    heads = result.best_heads()
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=result.max_induction,
            name="induction (max)",
            mode="lines+markers",
            customdata=heads,
            hovertemplate="step %{x}<br>induction %{y:.3f} (%{customdata})<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=result.max_previous_token,
            name="previous-token (max)",
            mode="lines+markers",
            line=dict(dash="dot"),
            hovertemplate="step %{x}<br>previous-token %{y:.3f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_hline(y=threshold, line=dict(dash="dash", color="grey"), row=1, col=1)
    if len(result.loss_steps):
        fig.add_trace(
            go.Scatter(x=result.loss_steps, y=result.loss, name="training loss", mode="lines"),
            row=1,
            col=2,
        )
    if len(result.heldout_steps):
        fig.add_trace(
            go.Scatter(
                x=result.heldout_steps,
                y=result.heldout_loss,
                name="held-out loss",
                mode="lines",
                line=dict(dash="dot"),
            ),
            row=1,
            col=2,
        )
    formed = result.formation_step(threshold)
    if formed is not None:
        for col in (1, 2):
            fig.add_vline(x=formed, line=dict(dash="dot", color="#e76f51"), row=1, col=col)
    fig.update_yaxes(range=[0, 1.05], title_text="attention score", row=1, col=1)
    fig.update_yaxes(title_text="cross-entropy (nats)", row=1, col=2)
    fig.update_xaxes(title_text="training step")
    note = f"induction head from step {formed}" if formed is not None else "no induction head"
    fig.update_layout(
        title=f"Induction heads over training · {result.model_name} ({note})",
        height=420,
        margin=dict(l=10, r=10, t=70, b=10),
    )
    return fig
