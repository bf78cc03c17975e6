"""What the dashboard shows, computed without Streamlit: pure functions over a loaded model
and the results store that return numbers, rows and plotly figures for the pages to draw.

The Streamlit app (``app.py``, ``dashboard/``) caches the model per (name, device, dtype)
and these functions' outputs per input; nothing here imports streamlit, mutates the model
or keeps state, so every view is also usable from a notebook or a test.

* **attention patterns** of every head for one prompt (one forward pass caching only
  ``hook_pattern``), as layer x head thumbnails and as a token x token heatmap with the
  tokens on the axes (Elhage et al. 2021's way of reading heads);
* **the prompt**: tokens and the model's top next-token predictions;
* **head tables**: per-head scores beside the planted role (reference models) and the
  class an IOI run assigned (Wang et al. 2022);
* **the runs store**: rows for the run browser.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from jaxtyping import Float

from interp.results import Result

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from transformer_lens.model_bridge import TransformerBridge

    from interp.store import RunRecord

#: the prompt the app starts with, per reference model (the IOI sentence of Wang et al. 2022;
#: Merullo et al. 2023's capital question)
DEFAULT_PROMPTS = {
    "ioi": "When Mary and John went to the store, John gave a drink to",
    "recall": "Q: What is the capital of Poland? A:",
}
DEFAULT_PROMPT = DEFAULT_PROMPTS["ioi"]
#: stored run kind -> (experiment script, the reference model it runs on offline, extra args)
EXPERIMENTS: dict[str, tuple[str, str, list[str]]] = {
    "ioi": ("experiments/ioi.py", "reference:ioi", []),
    "capitals": ("experiments/capitals.py", "reference:recall", []),
    "ffn_memories": ("experiments/ffn_memories.py", "reference:recall", []),
}
#: viridis, sampled at 0, .25, .5, .75, 1 (thumbnail colours without matplotlib)
_VIRIDIS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=float
)


def experiment_args(kind: str, model_name: str | None = None) -> list[str]:
    """The command line (script and arguments) that stores a run of ``kind``: on the selected
    model when it is the experiment's kind of reference model, else on that reference."""
    script, reference, extra = EXPERIMENTS[kind]
    model = model_name if model_name and model_name.startswith(reference) else reference
    return [script, "--model", model, *extra]


def experiment_command(kind: str, model_name: str | None = None) -> str:
    return " ".join(["python", *experiment_args(kind, model_name)])


def model_choices() -> list[str]:
    """Reference models first (always available), then the hub names."""
    from interp.models import HUB_MODELS, REFERENCE_PREFIX
    from interp.reference import REFERENCE_MODELS

    return [REFERENCE_PREFIX + k for k in REFERENCE_MODELS] + list(HUB_MODELS)


def reference_models() -> list[str]:
    return [m for m in model_choices() if m.startswith("reference:")]


def default_prompt(model_name: str) -> str:
    """The starting prompt for a model: the recall question for ``reference:recall``."""
    if model_name.startswith("reference:recall"):
        return DEFAULT_PROMPTS["recall"]
    return DEFAULT_PROMPT


def default_targets(model_name: str) -> str:
    """Targets the logit-lens page starts with (Merullo et al.'s Poland and Warsaw; the IOI
    names)."""
    return "Poland, Warsaw" if model_name.startswith("reference:recall") else "Mary, John"


def device_choices() -> list[str]:
    import torch

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


# -- the model and the prompt ----------------------------------------------------------------
def model_rows(model: TransformerBridge) -> list[dict[str, str]]:
    """The model record as (property, value) rows."""
    from interp.models import record_of

    rec = record_of(model)
    processing = ", ".join(k for k, v in rec.weight_processing.items() if v) or "none"
    rows = [
        ("name", rec.name),
        ("source", f"{rec.source}: {rec.location}"),
        ("layers x heads", f"{rec.n_layers} x {rec.n_heads}"),
        ("d_model / d_head / d_mlp", f"{rec.d_model} / {rec.d_head} / {rec.d_mlp}"),
        ("vocabulary", str(rec.d_vocab)),
        ("context window", f"{rec.n_ctx} tokens"),
        ("device / dtype", f"{rec.device} / {rec.dtype}"),
        ("weight processing", processing),
    ]
    return [{"property": k, "value": v} for k, v in rows]


def planted_roles(model: TransformerBridge) -> dict[tuple[int, int], str]:
    """(layer, head) -> planted role, for reference models with a planted circuit."""
    from interp.models import record_of

    planted = record_of(model).reference or {}
    return {
        (int(layer), int(head)): role
        for role, heads in (planted.get("placement") or {}).items()
        for layer, head in heads
    }


@dataclasses.dataclass(frozen=True)
class PromptView(Result):
    """A prompt as the model sees it, and what it predicts next."""

    kind: ClassVar[str] = "prompt_view"
    prompt: str
    tokens: list[str]
    token_ids: list[int]
    top_tokens: list[str]
    top_probs: np.ndarray  # [k]
    top_logits: np.ndarray  # [k]

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"rank": i + 1, "token": t, "probability": float(p), "logit": float(lg)}
            for i, (t, p, lg) in enumerate(zip(self.top_tokens, self.top_probs, self.top_logits))
        ]

    def figure(self) -> go.Figure:
        import plotly.graph_objects as go

        fig = go.Figure(go.Bar(x=self.top_probs[::-1], y=self.top_tokens[::-1], orientation="h"))
        fig.update_layout(
            title="next-token probabilities",
            xaxis_title="probability",
            height=80 + 24 * len(self.top_tokens),
            margin=dict(l=10, r=10, t=40, b=40),
        )
        return fig


def prompt_view(model: TransformerBridge, prompt: str, k: int = 10) -> PromptView:
    """Tokenise (with the library's checks) and run the prompt once; top-``k`` next tokens."""
    import torch

    from interp.tokens import to_tokens, token_str

    tokens = to_tokens(model, prompt)
    with torch.no_grad():
        logits = model(tokens)[0, -1].float()
    probs = logits.softmax(-1)
    top = probs.topk(min(k, probs.shape[-1]))
    ids = tokens[0].tolist()
    return PromptView(
        prompt=prompt,
        tokens=[token_str(model, t) for t in ids],
        token_ids=ids,
        top_tokens=[token_str(model, t) for t in top.indices.tolist()],
        top_probs=top.values.cpu().numpy(),
        top_logits=logits[top.indices].cpu().numpy(),
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

    from interp.hooks import head_name, names_filter
    from interp.tokens import to_tokens, token_str

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

    def rows(self) -> list[dict[str, Any]]:
        n_layers, n_heads = next(iter(self.scores.values())).shape
        rows = []
        for layer in range(n_layers):
            for head in range(n_heads):
                key = f"{layer}.{head}"
                row: dict[str, Any] = {"head": key, "layer": layer, "index": head}
                row.update({k: round(float(v[layer, head]), 4) for k, v in self.scores.items()})
                if self.roles:
                    row["planted role"] = self.roles.get(key, "")
                if self.classes:
                    row["IOI class"] = self.classes.get(key, "")
                rows.append(row)
        return rows

    def figure(self, score: str | None = None) -> go.Figure:
        import plotly.graph_objects as go

        score = score or self.score_names[0]
        z = self.scores[score]
        fig = go.Figure(
            go.Heatmap(
                z=z,
                x=list(range(z.shape[1])),
                y=list(range(z.shape[0])),
                colorscale="Blues",
                hovertemplate="head %{y}.%{x}<br>" + score + " %{z:.3f}<extra></extra>",
            )
        )
        fig.update_layout(
            title=score,
            xaxis=dict(title="head", dtick=1),
            yaxis=dict(title="layer", dtick=1, autorange="reversed"),
            height=120 + 36 * z.shape[0],
            margin=dict(l=10, r=10, t=50, b=10),
        )
        return fig


def head_table(model: TransformerBridge) -> HeadTable:
    """Previous-token, duplicate-token and induction scores of every head on repeated random
    sequences (:func:`interp.analyses.attention.head_scores`; drawn from the names for a
    reference model whose planted heads only match names), with each head's planted role
    and the class the newest stored IOI run of this model gave it."""
    from interp.analyses.attention import head_scores
    from interp.models import record_of
    from interp.tokens import single_token_id

    names = (record_of(model).reference or {}).get("names")
    pool = [single_token_id(model, n) for n in names] if names else None
    scores = head_scores(model, pool=pool)
    return HeadTable(
        scores=scores.scores(),
        roles={f"{lh[0]}.{lh[1]}": r for lh, r in planted_roles(model).items()},
        classes=ioi_classes(record_of(model).name),
    )


def ioi_classes(model_name: str) -> dict[str, str]:
    """ "layer.head" -> class, from the newest stored ``ioi`` run of ``model_name`` (empty if
    there is none)."""
    from interp.store import ResultsStore

    for record in ResultsStore().list("ioi"):
        if record.model_name == model_name:
            return {
                f"{layer}.{head}": class_key(name)
                for name, heads in circuit_classes(record.summary).items()
                for layer, head in heads
            }
    return {}


def circuit_classes(summary: dict[str, Any]) -> dict[str, list]:
    """The circuit (class -> [[layer, head], ...]) in a stored IOI run's summary."""
    circuit = summary.get("circuit") or summary.get("classes") or {}
    return {k: v for k, v in circuit.items() if isinstance(v, list)}


# -- the IOI circuit (Wang et al. 2022) -------------------------------------------------------
#: head classes in the order information flows, with the position each acts at
IOI_CLASSES = {
    "previous_token": "S1+1",
    "duplicate_token": "S2",
    "induction": "S2",
    "s_inhibition": "END",
    "name_mover": "END",
    "backup_name_mover": "END",
    "negative_name_mover": "END",
}
#: the paths of the paper's circuit diagram (Wang et al. 2022, figure 2): sender -> receiver
IOI_PATHS = [
    ("previous_token", "induction"),
    ("induction", "s_inhibition"),
    ("duplicate_token", "s_inhibition"),
    ("s_inhibition", "name_mover"),
    ("s_inhibition", "backup_name_mover"),
    ("s_inhibition", "negative_name_mover"),
    ("name_mover", "logits"),
    ("backup_name_mover", "logits"),
    ("negative_name_mover", "logits"),
]
_CLASS_COLORS = {
    "previous_token": "#8c564b",
    "duplicate_token": "#e377c2",
    "induction": "#ff7f0e",
    "s_inhibition": "#9467bd",
    "name_mover": "#2ca02c",
    "backup_name_mover": "#17becf",
    "negative_name_mover": "#d62728",
}


def class_key(name: str) -> str:
    """``"Name mover"``, ``"name-mover"``, ``"name_movers"`` -> ``"name_mover"``."""
    key = "_".join(str(name).lower().replace("-", " ").replace("heads", "").split())
    key = key.removesuffix("s") if key.removesuffix("s") in IOI_CLASSES else key
    return {"s_inhibit": "s_inhibition", "duplicate": "duplicate_token"}.get(key, key)


def circuit_figure(
    classes: dict[str, list], n_layers: int, title: str = "IOI circuit"
) -> go.Figure:
    """The circuit as a diagram: heads placed by layer (x) and class (rows), coloured by
    class, with arrows from every head of a sender class to every head of its receivers
    along the paper's paths, ending at the logits."""
    import plotly.graph_objects as go

    groups = {class_key(k): [tuple(int(x) for x in lh) for lh in v] for k, v in classes.items()}
    order = [c for c in IOI_CLASSES if groups.get(c)] + sorted(
        c for c in groups if c not in IOI_CLASSES and groups[c]
    )
    row = {c: i for i, c in enumerate(order)}
    points: dict[str, list[tuple[float, float, str]]] = {}
    for c in order:
        heads = sorted(groups[c])
        for layer, head in heads:
            same = [h for h in heads if h[0] == layer]
            offset = (same.index((layer, head)) - (len(same) - 1) / 2) * 0.36
            points.setdefault(c, []).append((layer + offset, -row[c], f"{layer}.{head}"))
    logits = (n_layers + 0.2, -(len(order) - 1) / 2)
    fig = go.Figure()
    for sender, receiver in IOI_PATHS:
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
                marker=dict(size=30, color=_CLASS_COLORS.get(c, "#7f7f7f")),
                name=f"{c.replace('_', ' ')} ({IOI_CLASSES.get(c, '?')})",
                hovertemplate="head %{text}<br>" + c.replace("_", " ") + "<extra></extra>",
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


#: Wang et al. 2022 on GPT-2 small (PAPERS.md): shown labelled "paper", never as measured
PAPER_IOI = {
    "logit difference IO − S": "3.56",
    "IO > S": "99.3%",
    "P(IO)": "0.49",
    "faithfulness F(C)/F(M)": "87%",
}
#: stored arrays of an ``ioi`` run, by section: (array, title, x axis)
IOI_HEATMAPS = {
    "patching": [
        ("patch_resid_pre", "residual stream (resid_pre): layer x position", "position"),
        ("patch_attn_out", "attention output: layer x position", "position"),
        ("patch_mlp_out", "MLP output: layer x position", "position"),
        ("patch_head_out", "head outputs (z): layer x head", "head"),
    ],
    "path": [
        ("pp_logits", "path patching: head -> logits", "head"),
        ("pp_name_mover_q", "path patching: head -> name movers' queries", "head"),
        ("pp_s_inhibition_v", "path patching: head -> S-inhibition values", "head"),
        ("pp_induction_k", "path patching: head -> induction keys", "head"),
    ],
    "dla": [
        ("dla", "direct logit attribution (IO − S) at END", "head"),
        ("dla_ablated", "DLA with the name movers mean-ablated", "head"),
    ],
}


@dataclasses.dataclass(frozen=True)
class IOIRunView:
    """A stored ``ioi`` run (``experiments/ioi.py``): its summary and arrays, as figures and
    rows for the IOI page."""

    run_id: str
    model: str
    is_reference: bool
    n_layers: int
    summary: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def circuit(self) -> dict[str, list]:
        return circuit_classes(self.summary)

    def diagram(self) -> go.Figure:
        return circuit_figure(self.circuit, self.n_layers, f"IOI circuit found in {self.model}")

    def metric_rows(self) -> list[dict[str, str]]:
        """Headline numbers, measured, beside the paper's (GPT-2 small only)."""
        s = self.summary
        pct = lambda v: "—" if v is None else f"{100 * v:.1f}%"  # noqa: E731
        measured = {
            "logit difference IO − S": f"{s.get('logit_diff', float('nan')):.2f}",
            "IO > S": pct(s.get("io_over_s")),
            "P(IO)": f"{s.get('io_prob', float('nan')):.2f}",
            "faithfulness F(C)/F(M)": pct(s.get("faithfulness")),
        }
        rows = []
        for key, value in measured.items():
            row = {"quantity": key, "measured": value}
            if self.model in ("gpt2-small", "gpt2"):
                row["paper (Wang et al. 2022, GPT-2 small)"] = PAPER_IOI[key]
            rows.append(row)
        return rows

    def class_rows(self) -> list[dict[str, str]]:
        """Per class: the heads found, and for reference models the planted heads with
        precision and recall (for GPT-2 small, the paper's heads)."""
        planted = self.summary.get("planted") or {}
        scores = self.summary.get("precision_recall") or {}
        paper = {}
        if self.model in ("gpt2-small", "gpt2"):
            from interp.analyses.circuits import PAPER_GPT2_SMALL as paper
        fmt = lambda heads: ", ".join(f"{a}.{b}" for a, b in heads) or "—"  # noqa: E731
        rows = []
        for cls in [c for c in IOI_CLASSES if c in self.circuit or c in planted]:
            row = {"class": cls.replace("_", " "), "found": fmt(self.circuit.get(cls, []))}
            if planted:
                row["planted"] = fmt(planted.get(cls, []))
                pr = scores.get(cls, {})
                row["precision"] = f"{pr.get('precision', float('nan')):.2f}"
                row["recall"] = f"{pr.get('recall', float('nan')):.2f}"
            if paper:
                row["paper"] = fmt(paper.get(cls, []))
            rows.append(row)
        return rows

    def heatmaps(self, section: str) -> list[go.Figure]:
        """The stored heatmaps of ``section`` (patching, path, dla) that this run has."""
        from interp.viz.ioi import heatmap

        figures = []
        positions = self.summary.get("position_labels") or []
        for name, title, xaxis in IOI_HEATMAPS[section]:
            if name not in self.arrays:
                continue
            z = self.arrays[name]
            x = positions if xaxis == "position" and len(positions) == z.shape[1] else None
            unit = "normalised" if name.startswith("patch") else "effect"
            unit = "logit" if name.startswith("dla") else unit
            figures.append(
                heatmap(z, x or list(range(z.shape[1])), list(range(z.shape[0])), title,
                        xaxis, "layer", unit)
            )  # fmt: skip
        return figures

    def minimality_rows(self) -> list[dict[str, Any]]:
        return [
            {"head": head, "class": v.get("class", ""), "minimality": round(v.get("score", 0), 4)}
            for head, v in (self.summary.get("minimality") or {}).items()
        ]

    def minimality_figure(self) -> go.Figure:
        import plotly.graph_objects as go

        rows = self.minimality_rows()
        fig = go.Figure(
            go.Bar(
                x=[r["head"] for r in rows],
                y=[r["minimality"] for r in rows],
                marker_color=[_CLASS_COLORS.get(r["class"], "#7f7f7f") for r in rows],
                hovertemplate="head %{x}<br>minimality %{y:.3f}<extra></extra>",
            )
        )
        fig.add_hline(y=0.01, line_dash="dash", annotation_text="1% of F(M) (paper's bar)")
        fig.update_layout(
            title="minimality: |F(C \\ (K ∪ v)) − F(C \\ K)| / F(M) per circuit head",
            xaxis_title="head",
            yaxis_title="fraction of F(M)",
            height=380,
        )
        return fig


def ioi_run(run_id: str, root: str | None = None) -> IOIRunView:
    """Read a stored ``ioi`` run."""
    from interp.store import ResultsStore

    store = ResultsStore(root)
    record = store.get(run_id)
    return IOIRunView(
        run_id=run_id,
        model=record.model_name,
        is_reference=record.model.get("source") == "reference",
        n_layers=int(record.model.get("n_layers") or 0),
        summary=record.summary,
        arrays=store.arrays(run_id),
    )


# -- recall (Merullo et al. 2023) -------------------------------------------------------------
def layer_label(layer: int | None) -> str:
    return "never" if layer is None else ("embed" if layer < 0 else str(layer))


def recall_rows(run: Any, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """A stored capitals run as (quantity, measured[, planted | paper]) rows."""
    planted = {
        "answer top-1 from layer": summary.get("planted_layer"),
    }
    paper = (
        summary.get("paper", {}).get("capital", {})
        if isinstance(summary.get("paper"), dict)
        else {}
    )
    target = run.headline_target
    rows = [
        ("subject top-1 from layer", layer_label(run.subject_layer), "country_layer"),
        ("answer top-1 from layer", layer_label(run.answer_layer), "capital_layer"),
        ("clean accuracy", f"{run.clean_accuracy:.1%}", None),
        (
            f"transfer accuracy (o_L from {run.headline[0]})",
            f"{run.transfer_accuracy:.1%}",
            "transfer_accuracy",
        ),
        ("random-vector baseline", f"{run.random_baseline_accuracy:.1%}", None),
        (f"{target[0]} + o_L →", run.headline_transfer_top.strip(), None),
        ("FFN L zero-ablated accuracy", f"{run.ablated_accuracy:.1%}", None),
        ("FFN L mean-ablated accuracy", f"{run.mean_ablated_accuracy:.1%}", None),
        ("fact in context, FFN L ablated", f"{run.in_context_accuracy:.1%}", None),
    ]
    out = []
    for label, measured, paper_key in rows:
        row = {"quantity": label, "measured": measured}
        if any(v is not None for v in planted.values()):
            value = planted.get(label)
            row["planted"] = "" if value is None else str(value)
        if paper:
            row["paper (GPT-2 medium)"] = paper.get(paper_key, "") if paper_key else ""
        out.append(row)
    return out


def recall_pair_rows(run: Any) -> list[dict[str, Any]]:
    """Per pair: the answer's rank (1 = top) clean, with the o-vector transferred (held-out
    pairs), with FFN L zero- and mean-ablated, and with the fact in context (FFN ablated)."""
    transfer = dict(zip(run.held_out, np.asarray(run.transfer_rank).tolist()))
    rows = []
    for i, (subject, answer) in enumerate(zip(run.subjects, run.answers)):
        rows.append(
            {
                "subject": subject,
                "answer": answer,
                "clean": int(run.clean_rank[i]),
                "o_L transfer": transfer.get(subject),
                "FFN zero-ablated": int(run.ablated_rank[i]),
                "FFN mean-ablated": int(run.mean_ablated_rank[i]),
                "in context, ablated": int(run.in_context_rank[i]),
            }
        )
    return rows


# -- FFN neurons -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class NeuronView(Result):
    """One FFN neuron as a key-value memory (Geva et al. 2021/2022): its value's top and
    bottom tokens on the vocabulary, and its mined trigger examples (HTML, trigger marked)."""

    kind: ClassVar[str] = "neuron_view"
    layer: int
    neuron: int
    top: list[list]  # [[token, score], ...] best first
    bottom: list[list]
    value_norm: float
    job: str | None  # the mining job the examples come from (None: not mined)
    examples: list[dict]  # rank, activation, html, trigger, next
    planted: str  # what a reference model planted in this neuron ("" if nothing)

    def value_rows(self) -> list[dict[str, Any]]:
        n = max(len(self.top), len(self.bottom))
        pad = [["", float("nan")]] * n
        return [
            {
                "promotes": t[0],
                "score": round(t[1], 3),
                "suppresses": b[0],
                "score ": round(b[1], 3),
            }
            for t, b in zip(self.top + pad[len(self.top) :], self.bottom + pad[len(self.bottom) :])
        ]


def neuron_view(
    model: TransformerBridge, layer: int, neuron: int, k: int = 10, n_examples: int = 8
) -> NeuronView:
    """Value projection (cached in the results store by :mod:`interp.analyses.ffn`) and the
    newest complete mining job's trigger examples of ``layer``'s ``neuron`` (those where it
    fired: activation > 0)."""
    from interp.analyses import mining
    from interp.analyses.ffn import value_projections
    from interp.errors import InterpError
    from interp.store import ResultsStore

    cfg = model.cfg
    if not 0 <= layer < cfg.n_layers:
        raise InterpError(
            f"layer {layer} does not exist; this model has layers 0..{cfg.n_layers - 1}."
        )
    if not 0 <= neuron < cfg.d_mlp:
        raise InterpError(
            f"neuron {neuron} does not exist; layers have neurons 0..{cfg.d_mlp - 1}."
        )
    store = ResultsStore()
    values = value_projections(model, layers=[layer], k=k, store=store)
    job = mining.latest_job(store, model, layer)
    found = mining.examples(store, job, layer, neuron) if job else []
    found = [e for e in found if e.activation > 0][:n_examples]  # where the key fired
    bos = model.tokenizer.bos_token
    return NeuronView(
        layer=layer,
        neuron=neuron,
        top=[[t, s] for t, s in values.top(layer, neuron)],
        bottom=[[t, s] for t, s in values.bottom(layer, neuron)],
        value_norm=float(values.value_norms[0, neuron]),
        job=job,
        examples=[
            {
                "rank": e.rank + 1,
                "activation": round(float(e.activation), 3),
                "trigger": e.token,
                "next": e.next_token or "",
                "html": example_html(e.pieces, e.position, e.joiner, bos),
            }
            for e in found
        ],
        planted=next(
            (
                f"planted memory: {m['trigger']!r} -> {m['target']!r}"
                for m in planted_neurons(model)
                if (m["layer"], m["neuron"]) == (layer, neuron)
            ),
            "",
        ),
    )


#: Geva et al. 2021 (16-layer WikiText-103 LM), PAPERS.md: shown labelled "paper", never as measured
PAPER_AGREEMENT = {"lower layers": "≈ 0%", "top layer": "≈ 3.5%", "random": "≈ 0.0004%"}


def agreement_rows(summary: dict[str, Any], reference: bool) -> list[dict[str, Any]]:
    """A stored ``ffn_memories`` run's key-value agreement per layer, beside its shuffled
    baseline and (for real models) the paper's numbers."""
    rates = summary.get("agreement") or {}
    baseline = summary.get("agreement_baseline") or {}
    layers = sorted(rates, key=int)
    rows = []
    for i, layer in enumerate(layers):
        row = {
            "layer": int(layer),
            "measured": f"{100 * rates[layer]:.2f}%",
            "shuffled baseline": f"{100 * baseline.get(layer, float('nan')):.2f}%",
        }
        if not reference:
            paper = PAPER_AGREEMENT["top layer"] if i == len(layers) - 1 else ""
            row["paper (Geva et al. 2021)"] = paper or (
                PAPER_AGREEMENT["lower layers"] if i < len(layers) // 2 else ""
            )
        rows.append(row)
    return rows


def planted_neurons(model: TransformerBridge) -> list[dict[str, Any]]:
    """The key-value memories a reference model planted: layer, neuron, trigger, target."""
    from interp.models import record_of

    return list((record_of(model).reference or {}).get("memories") or [])


def example_html(
    pieces: list[str], position: int, joiner: str, bos: str | None = None, before: int = 24
) -> str:
    """A trigger example as HTML: the context (up to ``before`` tokens, from the start of its
    document), the trigger token marked, then the token that followed it in grey."""
    import html

    start = max(1, position - before)  # piece 0 is the window's BOS
    for i in range(position - 1, start - 1, -1):
        if bos is not None and pieces[i] == bos:  # a document boundary inside the window
            start = i + 1
            break
    context = joiner.join(pieces[start:position])
    if joiner == " " and context:
        context += " "
    after = pieces[position + 1] if position + 1 < len(pieces) else ""
    if after == bos:
        after = ""
    sep = joiner if joiner == " " else ""
    return (
        f"{'… ' if start > 1 and pieces[start - 1] != bos else ''}{html.escape(context)}"
        f"<mark>{html.escape(pieces[position])}</mark>"
        f"<span style='color:#888'>{html.escape(sep + after) if after else ''}</span>"
    )


# -- results store -----------------------------------------------------------------------------
def run_rows(records: list[RunRecord]) -> list[dict[str, Any]]:
    """One row per stored run, for the run browser."""
    rows = []
    for r in records:
        scalars = {k: v for k, v in r.summary.items() if isinstance(v, int | float | str)}
        rows.append(
            {
                "run id": r.run_id,
                "kind": r.kind,
                "model": r.model_name,
                "seed": r.seed,
                "started (UTC)": r.started_at[:19].replace("T", " "),
                "status": r.status,
                "summary": ", ".join(f"{k}={_cell(v)}" for k, v in list(scalars.items())[:6]),
            }
        )
    return rows


def comparison_rows(comparison: dict[str, Any]) -> list[dict[str, Any]]:
    """``ResultsStore.compare`` output as rows: one per differing config key and per scalar
    summary entry, one column per run."""
    ids = comparison["run_ids"]
    rows = [{"": "kind", **{i: comparison["kinds"][i] for i in ids}}]
    rows.append({"": "model", **{i: comparison["models"][i] for i in ids}})
    rows.append({"": "seed", **{i: _cell(comparison["seeds"][i]) for i in ids}})
    for key, per_run in comparison["config_diff"].items():
        rows.append({"": f"config.{key}", **{i: _cell(per_run.get(i)) for i in ids}})
    keys: list[str] = []
    for i in ids:
        keys += [k for k in comparison["summaries"][i] if k not in keys]
    for key in keys:
        values = [comparison["summaries"][i].get(key) for i in ids]
        if all(v is None or isinstance(v, int | float | str | bool) for v in values):
            rows.append({"": f"summary.{key}", **{i: _cell(v) for i, v in zip(ids, values)}})
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
