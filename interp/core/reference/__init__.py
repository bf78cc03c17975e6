"""Built-in reference models: small GPT-2s whose mechanisms are known because we planted them.

No GPT-2 weights can be downloaded in every environment, so every analysis in the workbench
is proven on models whose ground truth is written down (in the spirit of Tracr-compiled
models and InterpBench):

* ``reference:ioi`` — the indirect-object circuit of Wang et al. 2022 (name movers,
  S-inhibition, induction, duplicate-token, previous-token, backup and negative name-mover
  heads) at configurable (layer, head) placements: :mod:`interp.core.reference.ioi`.
* ``reference:recall`` — factual recall as word2vec-style arithmetic (Merullo et al. 2023)
  and planted FFN key-value memories (Geva et al. 2021): :mod:`interp.core.reference.recall`.

Models are built deterministically from their parameters, saved with ``save_pretrained``
into ``$INTERP_CACHE_DIR/reference/<kind>-<hash>`` with the tokenizer and a record of what
was planted (``interp_reference.json``), and loaded through the same local-directory path
as any Hugging Face model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import import_module
from pathlib import Path
from typing import Any

from interp.core.errors import InterpError

#: kind -> module implementing ``build(**params) -> (GPT2LMHeadModel, planted: dict)``
#: the planted record saved beside a built reference model
RECORD_FILE = "interp_reference.json"
REFERENCE_MODELS = {"ioi": "interp.core.reference.ioi", "recall": "interp.core.reference.recall"}
#: bump when a builder changes, so cached builds are not reused
BUILD_VERSION = 2


def _module_for(kind: str):
    if kind not in REFERENCE_MODELS:
        raise InterpError(f"unknown reference model {kind!r}; built-in: {sorted(REFERENCE_MODELS)}")
    return import_module(REFERENCE_MODELS[kind])


def build(kind: str, **params: Any):
    """Build in memory: ``(GPT2LMHeadModel, tokenizer, planted record)``."""
    from interp.core.reference.tokenizer import build_tokenizer

    module = _module_for(kind)
    unknown = set(params) - set(module.PARAMETERS)
    if unknown:
        raise InterpError(
            f"reference:{kind} has no parameter(s) {sorted(unknown)}; "
            f"it takes {sorted(module.PARAMETERS)}"
        )
    model, planted = module.build(**params)
    planted = {"kind": kind, "params": params, "build_version": BUILD_VERSION, **planted}
    return model, build_tokenizer(), planted


def materialize(kind: str, **params: Any) -> Path:
    """The directory of the saved reference model, building it on first use (atomically)."""
    from interp.core.hooks import quiet_transformers
    from interp.core.settings import cache_dir

    key = json.dumps({"kind": kind, "params": params, "v": BUILD_VERSION}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    target = cache_dir() / "reference" / f"{kind}-{digest}"
    if (target / RECORD_FILE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    model, tokenizer, planted = build(kind, **params)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{kind}-"))
    try:
        with quiet_transformers():
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        (tmp / RECORD_FILE).write_text(json.dumps(planted, indent=2))
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
