"""The main job: reproduce the three findings, store the runs, then open the dashboard.

* IOI circuit (Wang et al. 2022) on GPT-2 small, else on ``reference:ioi``;
* Poland -> Warsaw (Merullo et al. 2023) on GPT-2 medium, else on ``reference:recall``;
* FFN key-value memories (Geva et al. 2021/2022) on GPT-2 small, else ``reference:recall``.

GPT-2 weights are looked for in the Hugging Face cache, in ``$INTERP_MODELS_DIR`` and on the
hub; when none are found, the built-in reference models (planted, known mechanisms) are used
and the run says so. Each experiment runs as its own process and prints its own summary.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from interp.core.config import DeviceOptions, apply_device_options, option, parse
from interp.core.errors import exit_code

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Config(DeviceOptions):
    dashboard: bool = option(True, "open the Streamlit dashboard after the experiments")
    port: int = option(8501, "dashboard port")


def pick(preferred: str, fallback: str) -> tuple[str, bool]:
    from interp.core.models import model_sources

    available = {r["model"].split(" ")[0] for r in model_sources() if r["available"] == "yes"}
    return (preferred, True) if preferred in available else (fallback, False)


def main() -> int:
    config = parse(Config, description=__doc__)
    if exit_code(lambda: apply_device_options(config) and None):
        return 2  # a bad --device, --dtype or --memory, already reported in one line
    where = ["--device", config.device, "--dtype", config.dtype]
    where += ["--memory", config.memory] if config.memory else []
    ioi_model, real_ioi = pick("gpt2-small", "reference:ioi")
    recall_model, real_recall = pick("gpt2-medium", "reference:recall")
    ffn_model = "gpt2-small" if real_ioi else "reference:recall"
    if not (real_ioi and real_recall):
        print(
            "=" * 78 + "\nGPT-2 weights were not found on this machine (no Hugging Face cache, no\n"
            "$INTERP_MODELS_DIR, hub unreachable). Running on the BUILT-IN REFERENCE MODELS,\n"
            "whose mechanisms are planted and known: the numbers below test the methods,\n"
            "they are not GPT-2's. To use GPT-2, see `interp models` and the README.\n" + "=" * 78,
            flush=True,
        )
    steps = [
        ["experiments/ioi.py", "--model", ioi_model, *where],
        ["experiments/capitals.py", "--model", recall_model, *where],
        ["experiments/ffn_memories.py", "--model", ffn_model, *where],
    ]
    failed = []
    for step in steps:
        print(f"\n$ python {' '.join(step)}", flush=True)
        if subprocess.run([sys.executable, *step], cwd=ROOT).returncode != 0:
            failed.append(step[0])
    if failed:
        print(f"\nthese experiments failed: {', '.join(failed)}", file=sys.stderr)
    if not config.dashboard:
        return 1 if failed else 0
    print(f"\nOpening the dashboard on http://localhost:{config.port} (Ctrl-C to stop)", flush=True)
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py")]
    command += ["--server.port", str(config.port), "--server.headless", "true"]
    try:
        return subprocess.run(command, cwd=ROOT).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
