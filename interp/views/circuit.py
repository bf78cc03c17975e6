"""The IOI circuit (Wang et al. 2022, "Interpretability in the Wild"): the circuit as a
diagram (heads grouped by class, arrows along the paper's paths), and a stored ``ioi`` run
(``experiments/ioi.py``) as metrics, class tables, patching / path-patching / direct logit
attribution heatmaps and faithfulness."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

from interp.figures.ioi import CLASS_COLORS

if TYPE_CHECKING:
    import plotly.graph_objects as go


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
                marker=dict(size=30, color=CLASS_COLORS.get(c, "#7f7f7f")),
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
            from interp.studies.ioi_circuit import PAPER_GPT2_SMALL as paper
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
        from interp.figures.ioi import heatmap

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
                marker_color=[CLASS_COLORS.get(r["class"], "#7f7f7f") for r in rows],
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
    from interp.results.store import ResultsStore

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


def ioi_classes(model_name: str) -> dict[str, str]:
    """ "layer.head" -> class, from the newest stored ``ioi`` run of ``model_name`` (empty if
    there is none)."""
    from interp.results.store import ResultsStore

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
