#!/usr/bin/env bash
# Set everything up, run the experiments (IOI circuit, Poland->Warsaw, FFN memories) and open
# the dashboard. Without GPT-2 weights (offline), the built-in reference models are used.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV=${VENV:-.venv}
bash scripts/get_corpus.sh || echo "[run] no default corpus: FFN mining needs --corpus FILE_OR_DIR"
exec "$VENV/bin/python" experiments/run_all.py "$@"
