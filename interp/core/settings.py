"""Where the workbench keeps things on disk, each overridable by an environment variable.

* ``INTERP_RESULTS_DIR`` — the results store (SQLite database + array files). Default:
  ``./results`` under the current working directory, so a project's runs live beside it.
* ``INTERP_CACHE_DIR`` — built reference models (they are rebuilt deterministically when
  missing). Default: ``~/.cache/interp``.
* ``INTERP_MODELS_DIR`` — a folder of local Hugging Face model directories, looked up by
  name (``$INTERP_MODELS_DIR/gpt2-small``), for air-gapped machines.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the package version, recorded with every stored run
VERSION = "0.1.0"


def results_dir() -> Path:
    return Path(os.environ.get("INTERP_RESULTS_DIR", "results")).expanduser()


def cache_dir() -> Path:
    return Path(os.environ.get("INTERP_CACHE_DIR", "~/.cache/interp")).expanduser()


def models_dir() -> Path | None:
    value = os.environ.get("INTERP_MODELS_DIR")
    return Path(value).expanduser() if value else None
