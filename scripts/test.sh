#!/usr/bin/env bash
# Set everything up and run the checks: ruff (lint + format), the import contracts, mypy and
# the whole test suite (with run-time shape checks),
# including the end-to-end test of the dashboard in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
VENV=${VENV:-.venv}
echo "[test] ruff check + format check"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "[test] import contracts (lint-imports: layers run one way, no cycles)"
"$VENV/bin/lint-imports" --no-cache
echo "[test] mypy interp"
"$VENV/bin/mypy" interp
echo "[test] pytest"
exec "$VENV/bin/python" -m pytest -q -ra "$@"
