"""The IOI circuit (Wang et al. 2022, "Interpretability in the Wild"): the circuit as a
diagram (heads grouped by class, arrows along the paper's paths), and a stored ``ioi`` run
(``experiments/ioi.py``) as metrics, class tables, patching / path-patching / direct logit
attribution heatmaps and faithfulness."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from interp.core.components import heads_text, parse_head
from interp.core.ioi_roles import (
    CLASSES,
    PAPER_GPT2_SMALL,
    PAPER_METRICS,
    PAPER_MODELS,
    PATHS,
    POSITIONS,
    label,
)
from interp.core.ioi_roles import class_key as class_key  # re-exported
from interp.studies.ioi_run import IOIRun, stored_circuit

if TYPE_CHECKING:
    import plotly.graph_objects as go


# -- the IOI circuit (Wang et al. 2022): defined once, in interp.core.ioi_roles -------------
#: head classes in the order information flows, with the position each acts at
IOI_CLASSES: dict[str, str] = {c: POSITIONS[c] for c in CLASSES}
#: the paths of the paper's circuit diagram (Wang et al. 2022, figure 2): sender -> receiver
IOI_PATHS = list(PATHS)
#: Wang et al. 2022 on GPT-2 small (PAPERS.md): shown labelled "paper", never as measured
PAPER_IOI = PAPER_METRICS


def circuit_figure(
    classes: Mapping[str, Sequence], n_layers: int, title: str = "IOI circuit"
) -> go.Figure:
    """The circuit as a diagram (:func:`interp.figures.ioi.circuit_diagram`): heads placed by
    layer and class, arrows along the paper's paths, ending at the logits."""
    from interp.figures.ioi import circuit_diagram

    return circuit_diagram(classes, n_layers, title)


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
    """A stored ``ioi`` run (:class:`~interp.studies.ioi_run.IOIRun`, from
    ``experiments/ioi.py`` or :func:`~interp.studies.ioi_run.run_ioi`) as figures and rows
    for the IOI page."""

    run_id: str
    model: str
    is_reference: bool
    n_layers: int
    result: IOIRun

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary()

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        return self.result.arrays()

    @property
    def circuit(self) -> dict[str, list]:
        return self.result.circuit

    @property
    def shows_paper(self) -> bool:
        return self.model in PAPER_MODELS

    def diagram(self) -> go.Figure:
        return self.result.figure(self.n_layers or None, f"IOI circuit found in {self.model}")

    def warnings(self) -> list[str]:
        """What the page must say before the circuit: forced past the IOI-behaviour gate,
        implausibly large circuit (the run's own warnings; a forced run always says so, and
        a run stored before the implausible-circuit flag is judged by the same rule)."""
        from interp.studies.ioi_circuit import thresholds_from
        from interp.studies.ioi_run import implausible_circuit

        out = list(self.result.warnings)
        if self.result.forced and not any("forced" in w for w in out):
            out.insert(0, "forced past the IOI-behaviour gate: the model may not do IOI")
        dla = self.result.dla
        if dla is not None and dla.ndim == 2 and not any("implausible" in w for w in out):
            # runs stored before the flag existed are judged here, by the same rule
            t = thresholds_from(self.result.thresholds)
            flag = implausible_circuit(len(self.result.heads()), int(dla.size), t)
            out += [flag] if flag else []
        return out

    def metric_rows(self) -> list[dict[str, str]]:
        """Headline numbers, measured, beside the paper's (GPT-2 small only)."""
        r = self.result
        pct = lambda v: "—" if v is None else f"{100 * v:.1f}%"  # noqa: E731
        measured = {
            "logit difference IO − S": f"{r.logit_diff:.2f}",
            "IO > S": pct(r.io_over_s),
            "P(IO)": "—" if r.io_prob is None else f"{r.io_prob:.2f}",
            "faithfulness F(C)/F(M)": pct(r.faithfulness),
        }
        rows = []
        for key, value in measured.items():
            row = {"quantity": key, "measured": value}
            if self.shows_paper:
                row["paper (Wang et al. 2022, GPT-2 small)"] = PAPER_METRICS[key]
            rows.append(row)
        return rows

    def class_rows(self) -> list[dict[str, str]]:
        """Per class: the heads found, and for reference models the planted heads with
        precision and recall (for GPT-2 small, the paper's heads)."""
        planted = self.result.planted or {}
        scores = self.result.precision_recall or {}
        paper = PAPER_GPT2_SMALL if self.shows_paper else {}
        rows = []
        for cls in [c for c in CLASSES if c in self.circuit or c in planted] + [
            c for c in self.circuit if c not in CLASSES
        ]:
            row = {"class": label(cls), "found": heads_text(self.circuit.get(cls, []), "—")}
            if planted:
                row["planted"] = heads_text(planted.get(cls, []), "—")
                pr = scores.get(cls, {})
                row["precision"] = f"{pr.get('precision', float('nan')):.2f}"
                row["recall"] = f"{pr.get('recall', float('nan')):.2f}"
            if paper:
                row["paper"] = heads_text(paper.get(cls, []), "—")
            rows.append(row)
        return rows

    def heatmaps(self, section: str) -> list[go.Figure]:
        """The stored heatmaps of ``section`` (patching, path, dla) that this run has."""
        from interp.figures.ioi import heatmap

        figures = []
        positions = self.result.position_labels or []
        for name, title, xaxis in IOI_HEATMAPS[section]:
            z = self.result.array(name)
            if z is None:
                continue
            x = positions if xaxis == "position" and len(positions) == z.shape[1] else None
            unit = "normalised" if name.startswith("patch") else "effect"
            unit = "logit" if name.startswith("dla") else unit
            figures.append(
                heatmap(z, x or list(range(z.shape[1])), list(range(z.shape[0])), title,
                        xaxis, "layer", unit)
            )  # fmt: skip
        return figures

    def sensitivity_rows(self) -> list[dict[str, Any]]:
        """The threshold-sensitivity summary (every causal bar scaled, scores reused): per
        scale, the number of heads and the heads added / removed per class against x1
        (empty for runs stored before it existed)."""

        def text(changes: Mapping[str, Sequence[str]]) -> str:
            return "; ".join(f"{label(c)} {', '.join(h)}" for c, h in changes.items()) or "—"

        return [
            {
                "thresholds": f"x{row['scale']:g}",
                "heads": int(row["n_heads"]),
                "added": text(row.get("added", {})),
                "removed": text(row.get("removed", {})),
            }
            for row in self.result.sensitivity
        ]

    def evidence_rows(self) -> list[dict[str, Any]]:
        """One row per circuit head: class, step, value, bar, margin, the attention score
        that corroborates the class (with its margin) and any note."""
        rows = []
        for key, ev in sorted(self.result.evidence.items(), key=lambda kv: parse_head(kv[0])):
            pattern = ev.get("pattern", "n/a")
            corroborated = ev.get("corroborated")
            rows.append(
                {
                    "head": key,
                    "class": label(ev.get("class", "")),
                    "step": ev.get("step", ""),
                    "value": _round(ev.get("value")),
                    "bar": _round(ev.get("bar", ev.get("threshold"))),
                    "margin": _round(ev.get("margin")),
                    "pattern": pattern,
                    "pattern margin": _round(ev.get("pattern_margin")),
                    "corroborated": "—" if corroborated is None else
                    ("yes" if corroborated else "no"),
                    "note": ev.get("note", ""),
                }
            )  # fmt: skip
        return rows

    def minimality_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "head": parse_head(head).key,
                "class": v.get("class", ""),
                "minimality": round(v.get("score", 0), 4),
            }
            for head, v in self.result.minimality.items()
        ]

    def minimality_figure(self) -> go.Figure:
        from interp.figures.ioi import minimality_bars

        rows = self.minimality_rows()
        return minimality_bars(
            [r["head"] for r in rows],
            [r["minimality"] for r in rows],
            [r["class"] for r in rows],
            self.result.minimality_threshold,
        )


def _round(value: Any, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def ioi_run(run_id: str, root: str | None = None) -> IOIRunView:
    """Read a stored ``ioi`` run (any version of ``experiments/ioi.py`` stored it)."""
    from interp.results.store import ResultsStore

    store = ResultsStore(root)
    record = store.get(run_id)
    return IOIRunView(
        run_id=run_id,
        model=record.model_name,
        is_reference=record.model.get("source") == "reference",
        n_layers=int(record.model.get("n_layers") or 0),
        result=IOIRun.from_parts(record.summary, store.arrays(run_id)),
    )


def ioi_classes(model_name: str) -> dict[str, str]:
    """ "layer.head" -> class, from the newest stored ``ioi`` run of ``model_name`` (empty if
    there is none)."""
    from interp.results.store import ResultsStore

    for record in ResultsStore().list("ioi"):
        if record.model_name == model_name:
            return IOIRun.from_parts(record.summary, {}).classes()
    return {}


def circuit_classes(summary: Mapping[str, Any]) -> dict[str, list]:
    """The circuit (class -> [[layer, head], ...]) in a stored IOI run's summary."""
    return stored_circuit(summary)
