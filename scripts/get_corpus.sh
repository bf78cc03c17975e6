#!/usr/bin/env bash
# Fetch the default text corpus for FFN trigger mining: the glosses (definitions and usage
# examples) of WordNet 3.0, from Debian's `wordnet-base` package (Princeton WordNet licence).
#
#   bash scripts/get_corpus.sh            # into $INTERP_CACHE_DIR/corpus/wordnet (default ~/.cache/interp)
#   bash scripts/get_corpus.sh DEST_DIR   # into DEST_DIR
#
# Idempotent: when the corpus file is already there, nothing is fetched (works offline).
# Needs apt-get and dpkg (no root: `apt-get download` + `dpkg -x`, nothing is installed).
# Any other English text works too: `interp mine --corpus FILE_OR_DIR`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
[ -x "$PY" ] || PY=${PYTHON:-python3}

DEST=${1:-${INTERP_CACHE_DIR:-$HOME/.cache/interp}/corpus/wordnet}
FILE="$DEST/wordnet-glosses.txt"
if [ -s "$FILE" ]; then
  echo "[corpus] already present: $FILE"
  exit 0
fi
for tool in apt-get dpkg; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "[corpus] '$tool' is not available: cannot fetch Debian's wordnet-base here." >&2
    echo "[corpus] Use any English text instead: interp mine --corpus FILE_OR_DIR" >&2
    exit 1
  fi
done
echo "[corpus] fetching wordnet-base with apt-get download, unpacking with dpkg -x"
if ! "$PY" -m interp.core.corpus fetch "$DEST"; then
  # a fresh machine may have no package lists yet: as root, read them once and retry
  if [ "$(id -u)" = 0 ]; then
    echo "[corpus] refreshing the package lists (apt-get update) and retrying"
    apt-get update -qq >/dev/null
    "$PY" -m interp.core.corpus fetch "$DEST"
  else
    exit 1
  fi
fi
"$PY" -m interp.core.corpus stats "$FILE"
