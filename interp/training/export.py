"""Store a trained model compactly (e.g. in the repository): weights in float16 by default,
with its tokenizer and training record, as a ``save_pretrained`` directory.

>>> import tempfile
>>> from pathlib import Path
>>> from interp.training import train
>>> run = train("tiny", tempfile.mkdtemp(), steps=2, show_progress=False)
>>> out = export_model(run.final_dir, Path(tempfile.mkdtemp()) / "tiny")
>>> import json
>>> json.loads((out / "interp_training.json").read_text())["stored_dtype"]
'float16'
>>> size = lambda d: (d / "model.safetensors").stat().st_size
>>> size(out) < size(run.final_dir)
True
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from interp.core.errors import InterpError
from interp.training.loop import INFO_FILE

#: files beside the weights that travel with an exported model
EXTRA_FILES = ("heldout.txt", "unigram.json")
DTYPES = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}


def export_model(
    source: str | os.PathLike, dest: str | os.PathLike, dtype: str = "float16"
) -> Path:
    """Copy the model directory ``source`` to ``dest`` with its weights in ``dtype`` (the
    optimiser state is left behind). ``interp.core.models.load`` loads it in float32."""
    from transformers import AutoTokenizer, GPT2LMHeadModel

    from interp.core.hooks import quiet_transformers

    src, out = Path(source), Path(dest)
    if dtype not in DTYPES:
        raise InterpError(f"dtype must be one of {sorted(DTYPES)}; got {dtype!r}")
    if not (src / "config.json").exists():
        raise InterpError(f"{str(src)!r} is not a saved model directory (no config.json)")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with quiet_transformers():
        model = GPT2LMHeadModel.from_pretrained(src, torch_dtype=torch.float32)
        for param in model.parameters():  # cast in place (transformers' typed .to is wrong)
            param.data = param.data.to(DTYPES[dtype])
        model.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(src).save_pretrained(tmp)
    for name in EXTRA_FILES:  # text models: the held-out sample and the unigram baseline
        if (src / name).exists():
            shutil.copyfile(src / name, tmp / name)
    info = json.loads((src / INFO_FILE).read_text()) if (src / INFO_FILE).exists() else {}
    info["stored_dtype"] = dtype
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=1))
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    return out
