"""How the head browser scales from GPT-2 small's 144 heads to XL's 1,200.

For each shape (12 x 12 and 48 x 25 heads; narrow models of GPT-2's vocabulary, so only the
head count differs), it prints: the heatmap's build + JSON time and size (what the browser
receives), the page's widget count, and the time of the rerun a click on a head causes
(Streamlit's AppTest, scores cached from the first run). Ratios are against 12 x 12 in the
same process. Measured, not estimated: nothing here needs GPT-2's weights.

    python benchmarks/head_browser.py            # --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHAPES = {"small (12 x 12)": (12, 12), "XL (48 x 25)": (48, 25)}


def figure_cost(n_layers: int, n_heads: int, repeats: int) -> tuple[float, int]:
    """Median seconds to build and serialise the heatmap, and its JSON size in bytes."""
    from interp.views.heads import HeadTable

    rng = np.random.default_rng(0)
    scores = {k: rng.random((n_layers, n_heads)) for k in ("previous_token", "induction")}
    table = HeadTable(scores=scores, roles={}, classes={})
    times, size = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        size = len(table.figure("induction", selected=(1, 1)).to_json())
        times.append(time.perf_counter() - start)
    return statistics.median(times), size


def page_rerun(model_dir: Path, repeats: int) -> tuple[float, int]:
    """Median seconds of the attention page's rerun after choosing a head, and its widget
    count (selectors + charts)."""
    from streamlit.testing.v1 import AppTest

    from dashboard.common import OTHER

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state["model_choice"] = OTHER
    at.session_state["model_custom"] = str(model_dir)
    at.run()
    at.switch_page("dashboard/pages/attention.py").run()
    assert not at.exception, [e.value for e in at.exception]
    options = at.selectbox(key="head-select").options
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        at.selectbox(key="head-select").select(options[-1 - i]).run()
        times.append(time.perf_counter() - start)
        assert not at.exception, [e.value for e in at.exception]
    widgets = len(at.selectbox) + len(at.button) + len(at.get("plotly_chart"))
    return statistics.median(times), widgets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from interp.core.synthetic import build_gpt2_shaped

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, (n_layers, n_heads) in SHAPES.items():
            fig_s, size = figure_cost(n_layers, n_heads, args.repeats)
            model = build_gpt2_shaped(
                Path(tmp) / f"gpt2-{n_layers}x{n_heads}", "xl", n_layers=n_layers,
                d_model=2 * n_heads, n_heads=n_heads, n_ctx=64,
            )  # fmt: skip
            rerun_s, widgets = page_rerun(model, args.repeats)
            rows.append((label, n_layers * n_heads, fig_s, size, widgets, rerun_s))
    base = rows[0]
    print("head browser (measured; ratios against 12 x 12 in this process)")
    print(f"  {'shape':<16} {'heads':>5} {'figure ms':>10} {'JSON kB':>8} {'widgets':>7} "
          f"{'click rerun s':>13}")  # fmt: skip
    for label, heads, fig_s, size, widgets, rerun_s in rows:
        print(
            f"  {label:<16} {heads:>5} {fig_s * 1e3:>6.1f} x{fig_s / base[2]:<3.1f}"
            f"{size / 1e3:>6.0f}   {widgets:>5}   {rerun_s:>6.2f} x{rerun_s / base[5]:.1f}"
        )


if __name__ == "__main__":
    main()
