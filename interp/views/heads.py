"""Attention heads: every head's pattern on one prompt (one forward pass caching only
``hook_pattern``) as a token x token heatmap with the tokens on the axes (Elhage et al. 2021's
way of reading heads); head scores (previous-token, duplicate-token, induction; Olsson et al.
2022) as one clickable layer x head heatmap, with each head's planted role and the class a
stored IOI run gave it (Wang et al. 2022).

The browser draws one heatmap and one pattern whatever the model's size (144 heads for GPT-2
small, 1,200 for XL): :func:`head_options` feeds a single head selector and
:func:`clicked_head` reads a click on the heatmap."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from jaxtyping import Float

from interp.core.components import Head, parse_head
from interp.results.base import Result
from interp.views.prompt import planted_roles

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from transformer_lens.model_bridge import TransformerBridge


#: viridis, sampled at 0, .25, .5, .75, 1 (thumbnail colours without matplotlib)
_VIRIDIS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=float
)


# -- attention patterns ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AttentionPatterns(Result):
    """Every head's attention pattern on one prompt: ``pattern[layer, head, query, key]``."""

    kind: ClassVar[str] = "attention_patterns"
    prompt: str
    tokens: list[str]
    pattern: Float[np.ndarray, "layer head query key"]

    @property
    def n_layers(self) -> int:
        return self.pattern.shape[0]

    @property
    def n_heads(self) -> int:
        return self.pattern.shape[1]

    def thumbnail(self, layer: int, head: int, size: int = 64) -> np.ndarray:
        """The pattern as a small RGB image (uint8 [size', size', 3], viridis, each cell an
        integer number of pixels so the image stays sharp)."""
        return colorize(self.pattern[layer, head], size)

    def figure(self, layer: int = 0, head: int = 0) -> go.Figure:
        return pattern_figure(self.pattern[layer, head], self.tokens, f"head {layer}.{head}")


def attention_patterns(model: TransformerBridge, prompt: str) -> AttentionPatterns:
    """One forward pass caching only the ``hook_pattern`` of every layer."""
    import torch

    from interp.core.hooks import head_name, names_filter
    from interp.core.tokens import to_tokens, token_str

    tokens = to_tokens(model, prompt)
    names = [head_name(layer, "pattern") for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names_filter(names))
    pattern = torch.stack([cache[n][0] for n in names])  # [layer, head, query, key]
    return AttentionPatterns(
        prompt=prompt,
        tokens=[token_str(model, t) for t in tokens[0].tolist()],
        pattern=pattern.float().cpu().numpy(),
    )


def colorize(values: Float[np.ndarray, "rows cols"], size: int = 64) -> np.ndarray:
    """Map values in [0, 1] to viridis RGB (uint8), upscaled by an integer factor to about
    ``size`` pixels."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=float)), 0.0, 1.0)
    stops = np.linspace(0.0, 1.0, len(_VIRIDIS))
    rgb = np.stack([np.interp(v, stops, _VIRIDIS[:, c]) for c in range(3)], axis=-1)
    factor = max(1, size // max(v.shape))
    rgb = rgb.repeat(factor, axis=0).repeat(factor, axis=1)
    return rgb.round().astype(np.uint8)


def pattern_figure(
    pattern: Float[np.ndarray, "query key"], tokens: list[str], title: str
) -> go.Figure:
    """A token x token heatmap: queries down, keys across, the tokens on both axes and the
    attention weight (and both tokens) on hover. Positions index the axes so repeated
    tokens stay distinct."""
    import plotly.graph_objects as go

    n = len(tokens)
    labels = [f"{t} ({i})" for i, t in enumerate(tokens)]
    hover = np.array([[[labels[q], labels[k]] for k in range(n)] for q in range(n)], dtype=object)
    fig = go.Figure(
        go.Heatmap(
            z=pattern,
            x=list(range(n)),
            y=list(range(n)),
            customdata=hover,
            hovertemplate="query %{customdata[0]}<br>key %{customdata[1]}"
            "<br>attention %{z:.3f}<extra></extra>",
            colorscale="Viridis",
            zmin=0.0,
            zmax=1.0,
            colorbar=dict(title="attention"),
        )
    )
    axis = dict(tickmode="array", tickvals=list(range(n)), ticktext=tokens)
    fig.update_layout(
        title=title,
        xaxis=dict(title="key (attended to)", tickangle=-60, **axis),
        yaxis=dict(title="query (attending)", autorange="reversed", **axis),
        height=max(420, 28 * n + 160),
        margin=dict(l=10, r=10, t=50, b=10),
    )
    return fig


@dataclasses.dataclass(frozen=True)
class HeadTable(Result):
    """Per-head scores ([layer, head] each) with the planted role and IOI class of each head."""

    kind: ClassVar[str] = "head_table"
    scores: dict[str, np.ndarray]
    roles: dict[str, str]  # "layer.head" -> planted role
    classes: dict[str, str]  # "layer.head" -> class found by an IOI run

    @property
    def score_names(self) -> list[str]:
        return list(self.scores)

    def with_classes(self, classes: dict[str, str]) -> HeadTable:
        return dataclasses.replace(self, classes=classes)

    def rows(self) -> list[dict[str, Any]]:
        n_layers, n_heads = next(iter(self.scores.values())).shape
        rows = []
        for layer in range(n_layers):
            for head in range(n_heads):
                key = Head(layer, head).key
                row: dict[str, Any] = {"head": key, "layer": layer, "index": head}
                row.update({k: round(float(v[layer, head]), 4) for k, v in self.scores.items()})
                if self.roles:
                    row["planted role"] = self.roles.get(key, "")
                if self.classes:
                    row["IOI class"] = self.classes.get(key, "")
                rows.append(row)
        return rows

    def start_head(self) -> tuple[int, int, str]:
        """The head a page opens on, and why: a planted name mover (it answers the IOI
        prompt), else another planted head, else the head with the highest score.

        Example::

            >>> from interp.core.models import load
            >>> table = head_table(load("reference:ioi", device="cpu"))
            >>> table.start_head()
            (6, 1, 'planted name_mover')
        """
        for preferred in ("name_mover", None):
            for key, role in sorted(self.roles.items(), key=lambda kv: _head_key(kv[0])):
                if preferred is None or role == preferred:
                    layer, head = _head_key(key)
                    return layer, head, f"planted {role}"
        name, best = max(self.scores.items(), key=lambda kv: float(np.max(kv[1])))
        layer, head = (int(i) for i in np.unravel_index(int(np.argmax(best)), best.shape))
        return layer, head, f"highest {name} score ({float(best[layer, head]):.2f})"

    def figure(
        self, score: str | None = None, selected: tuple[int, int] | None = None
    ) -> go.Figure:
        """One ``[layer, head]`` heatmap of ``score`` (the first trace) whatever the number of
        heads, ``selected`` outlined (the trace named "selected"). Plotly heatmap cells do not
        report clicks to Streamlit, so an invisible marker sits on every cell (the trace
        named "heads", which also carries the hover text): a click anywhere picks the nearest
        head (:func:`clicked_head`)."""
        import plotly.graph_objects as go

        from interp.figures.attention import grid_height

        score = score or self.score_names[0]
        z = self.scores[score]
        n_layers, n_heads = z.shape
        layers, heads = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
        fig = go.Figure(
            go.Heatmap(
                z=z, x=list(range(n_heads)), y=list(range(n_layers)), colorscale="Blues",
                hoverinfo="skip", colorbar=dict(title=score.replace("_", " ")),
            )
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=heads.ravel(), y=layers.ravel(), mode="markers", name="heads",
                marker=dict(symbol="square", size=12, opacity=0), customdata=z.ravel(),
                hovertemplate="head %{y}.%{x}<br>" + score + " %{customdata:.3f}<extra></extra>",
                showlegend=False,
            )
        )  # fmt: skip
        if selected is not None:
            fig.add_trace(
                go.Scatter(
                    x=[selected[1]], y=[selected[0]], mode="markers", hoverinfo="skip",
                    marker=dict(symbol="square-open", size=14, color="crimson", line_width=2),
                    showlegend=False, name="selected",
                )
            )  # fmt: skip
        fig.update_layout(
            title=score,
            xaxis=dict(title="head", dtick=1 if n_heads <= 32 else 2),
            yaxis=dict(title="layer", dtick=1 if n_layers <= 24 else 2, autorange="reversed"),
            height=grid_height(n_layers),
            margin=dict(l=10, r=10, t=50, b=10),
            hoverdistance=-1,  # the nearest head's marker answers anywhere in its cell
        )
        return fig


def head_options(n_layers: int, n_heads: int) -> list[str]:
    """Every head as ``"layer.head"``, layer by layer: the options of the one head selector.

    >>> head_options(2, 2)
    ['0.0', '0.1', '1.0', '1.1']
    """
    return [f"{layer}.{head}" for layer in range(n_layers) for head in range(n_heads)]


def clicked_head(event: Any, n_layers: int, n_heads: int) -> tuple[int, int] | None:
    """The head clicked on a :meth:`HeadTable.figure` heatmap, from a Streamlit plotly
    selection event (``{"selection": {"points": [{"x": head, "y": layer, ...}]}}``), or None.

    >>> clicked_head({"selection": {"points": [{"x": 3, "y": 1, "curve_number": 1}]}}, 8, 4)
    (1, 3)
    >>> clicked_head({"selection": {"points": []}}, 8, 4) is None
    True
    """
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        try:
            layer, head = int(point["y"]), int(point["x"])
        except (KeyError, TypeError, ValueError):
            continue
        if 0 <= layer < n_layers and 0 <= head < n_heads:
            return layer, head
    return None


def _head_key(key: str) -> tuple[int, int]:
    return tuple(parse_head(key))  # type: ignore[return-value]


def head_table(model: TransformerBridge) -> HeadTable:
    """Previous-token, duplicate-token and induction scores of every head on repeated random
    sequences (:func:`interp.methods.attention.head_scores`; drawn from the names for a
    reference model whose planted heads only match names) and each head's planted role. A
    function of the model only; add the IOI classes of a stored run with
    ``table.with_classes(ioi_classes(name))``."""
    from interp.core.models import record_of
    from interp.core.tokens import single_token_id
    from interp.methods.attention import head_scores

    names = (record_of(model).reference or {}).get("names")
    pool = [single_token_id(model, n) for n in names] if names else None
    scores = head_scores(model, pool=pool)
    return HeadTable(
        scores=scores.scores(),
        roles={f"{lh[0]}.{lh[1]}": r for lh, r in planted_roles(model).items()},
        classes={},
    )
