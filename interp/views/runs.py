"""The results store for the run browser: stored results rebuilt by kind, runs as rows, and
several runs side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from interp.results.base import Result

if TYPE_CHECKING:
    from interp.results.store import RunRecord


# -- results store ---------------------------------------------------------------------------
def stored_result(run_id: str, root: str | None = None) -> Result:
    """The result dataclass of a stored run (its class found through the kind registry)."""
    from interp.results.base import load_result
    from interp.results.store import ResultsStore

    return load_result(run_id, store=ResultsStore(root))


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
