"""Text corpora for mining FFN trigger examples: read, fingerprint, tokenise into windows.

Geva et al. 2021 find each key's *trigger examples* by running the model over a text corpus
and keeping, per FFN neuron, the prefixes on which it fires most. This module turns text into
what :mod:`interp.methods.mining` streams through the model:

* a **corpus** is a text file, or a directory whose ``*.txt`` files (recursively, sorted by
  path) are read in order; paragraphs (blocks separated by blank lines) are documents;
* documents are tokenised with the model's own tokenizer and concatenated into one token
  **stream**, each followed by the BOS/end-of-text token as GPT-2 separates documents;
* the stream is cut into **windows** of ``window`` tokens: BOS, then the next
  ``window - 1`` stream tokens (the last window is padded with BOS and its real length kept),
  so every position of the stream is seen exactly once, with up to ``window - 1`` tokens of
  left context;
* the **fingerprint** (SHA-256 of the relative file names and their bytes) identifies the
  corpus in mining job keys, so a changed corpus is never confused with an old one.

The default corpus is the glosses (definitions and usage examples) of **WordNet 3.0**, from
Debian's ``wordnet-base`` package: real, edited English (117,659 glosses of nouns, verbs,
adjectives and adverbs, 1.46 M words; 1.71 M tokens of the reference models' word-level
tokenizer), under Princeton's permissive WordNet licence, in a one-line-per-synset format
that needs no markup parsing. ``dict-gcide`` (the other candidate) is GPL and SGML-like
markup. Obtain it with ``scripts/get_corpus.sh`` (or ``python -m interp.core.corpus fetch``): it
runs ``apt-get download wordnet-base`` and ``dpkg -x`` (no root, no install), keeps the text
after ``|`` of every ``data.*`` line and writes one gloss per paragraph to
``$INTERP_CACHE_DIR/corpus/wordnet/wordnet-glosses.txt``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from interp.core.errors import InterpError

if TYPE_CHECKING:
    import torch

DEFAULT_PACKAGE = "wordnet-base"
DEFAULT_FILE = "wordnet-glosses.txt"
WORDNET_DATA = ("data.noun", "data.verb", "data.adj", "data.adv")
#: bump when tokenisation into a stream changes, so cached streams are not reused
STREAM_VERSION = 1


def default_corpus_dir() -> Path:
    from interp.core.settings import cache_dir

    return cache_dir() / "corpus" / "wordnet"


def default_corpus_path() -> Path:
    return default_corpus_dir() / DEFAULT_FILE


def resolve_corpus(path: str | os.PathLike | None) -> Path:
    """``path`` if it exists, else the default corpus if it was fetched; else a clear error."""
    if path is None or str(path) == "":
        default = default_corpus_path()
        if not default.exists():
            raise InterpError(
                f"the default corpus (WordNet glosses) is not at {default}. Fetch it with "
                "`bash scripts/get_corpus.sh` (or `python -m interp.core.corpus fetch`), or give a "
                "text file or a directory of .txt files with --corpus PATH."
            )
        return default
    p = Path(path).expanduser()
    if not p.exists():
        raise InterpError(f"corpus {str(p)!r} does not exist; give a text file or a directory.")
    return p


def corpus_files(path: str | os.PathLike) -> list[Path]:
    """The files of a corpus: the file itself, or the ``*.txt`` files under a directory."""
    p = Path(path).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        files = sorted(f for f in p.rglob("*.txt") if f.is_file())
        if not files:
            raise InterpError(f"corpus directory {str(p)!r} holds no .txt files.")
        return files
    raise InterpError(f"corpus {str(p)!r} does not exist; give a text file or a directory.")


def fingerprint(path: str | os.PathLike) -> str:
    """SHA-256 (hex, 16 characters) over the corpus files' relative names and contents."""
    p = Path(path).expanduser()
    digest = hashlib.sha256()
    for f in corpus_files(p):
        digest.update((str(f.relative_to(p)) if p.is_dir() else f.name).encode() + b"\0")
        with open(f, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def documents(path: str | os.PathLike) -> list[str]:
    """Paragraphs of every corpus file (blank-line separated; inner newlines become spaces)."""
    docs: list[str] = []
    for f in corpus_files(path):
        text = f.read_text(encoding="utf-8", errors="replace")
        paragraph: list[str] = []
        for line in text.splitlines() + [""]:
            if line.strip():
                paragraph.append(line.strip())
            elif paragraph:
                docs.append(" ".join(paragraph))
                paragraph = []
    if not docs:
        raise InterpError(f"corpus {str(path)!r} contains no text.")
    return docs


def _tokenizer_digest(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pack_documents(tokenizer, docs: Sequence[str]) -> np.ndarray:
    """int64 [n]: each document's tokens followed by the tokenizer's BOS (GPT-2's
    ``<|endoftext|>``), concatenated: documents packed as GPT-2 was trained.

    >>> from interp.core.models import load
    >>> pack_documents(load("reference:recall").tokenizer, ["Paris", "Rome"]).tolist()[1::2]
    [0, 0]
    """
    bos = tokenizer.bos_token_id
    if bos is None:
        raise InterpError("the model's tokenizer has no BOS / end-of-text token.")
    ids = tokenizer(list(docs), add_special_tokens=False)["input_ids"]
    parts = [np.asarray([*row, bos], dtype=np.int64) for row in ids]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def token_stream(tokenizer, path: str | os.PathLike, cache: bool = True) -> np.ndarray:
    """Every document's tokens followed by BOS, concatenated: int64 [n_tokens].

    Cached as ``.npy`` under ``$INTERP_CACHE_DIR/corpus/streams`` keyed by the corpus
    fingerprint and the tokenizer, since tokenising the default corpus takes seconds.
    """
    from interp.core.settings import cache_dir

    key = f"{fingerprint(path)}-{_tokenizer_digest(tokenizer)}-v{STREAM_VERSION}"
    cached = cache_dir() / "corpus" / "streams" / f"{key}.npy"
    if cache and cached.exists():
        return np.load(cached)
    stream = pack_documents(tokenizer, documents(path))
    if cache:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, stream)
        os.replace(tmp, cached)
    return stream


@dataclass(frozen=True)
class TokenWindows:
    """A corpus cut into windows: ``tokens[w] = [BOS] + stream[w*(window-1) : ...]``."""

    path: str
    fingerprint: str
    window: int
    bos: int
    stream: np.ndarray  # int64 [n_stream]
    tokens: np.ndarray  # int64 [n_windows, window]
    lengths: np.ndarray  # int64 [n_windows]: real tokens per window (BOS included)

    @property
    def n_windows(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def n_tokens(self) -> int:
        """Stream tokens covered (each exactly once)."""
        return int(self.stream.shape[0])

    def stream_index(self, window: int, position: int) -> int:
        """Where position ``position`` (>= 1) of window ``window`` lies in the stream."""
        return window * (self.window - 1) + position - 1

    def next_tokens(self) -> np.ndarray:
        """int64 [n_windows, window]: the stream token after each position (-1 at the end of
        the stream, at BOS position 0 and at padding)."""
        n, w = self.tokens.shape
        nxt = np.full((n, w), -1, dtype=np.int64)
        idx = np.arange(n)[:, None] * (w - 1) + np.arange(w)[None, :]  # stream index + 1
        ok = (np.arange(w)[None, :] >= 1) & (idx < self.n_tokens)
        nxt[ok] = self.stream[idx[ok]]
        return nxt

    def batches(self, batch_size: int) -> list[tuple[int, int]]:
        """``(start, stop)`` window ranges of consecutive batches (deterministic)."""
        return [
            (s, min(s + batch_size, self.n_windows)) for s in range(0, self.n_windows, batch_size)
        ]

    def batch(self, start: int, stop: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens [b, window] and the eligible-trigger mask [b, window] (real, non-BOS)."""
        import torch

        tokens = torch.from_numpy(self.tokens[start:stop])
        real = (
            torch.arange(self.window)[None, :] < torch.from_numpy(self.lengths[start:stop])[:, None]
        )
        mask = real & (tokens != self.bos)
        return tokens.to(device), mask.to(device)


def windows(
    tokenizer,
    path: str | os.PathLike | None = None,
    window: int = 32,
    max_tokens: int | None = None,
) -> TokenWindows:
    """Tokenise the corpus at ``path`` (the default corpus when None) into windows."""
    if window < 2:
        raise InterpError(f"window must be at least 2 tokens (BOS + 1); got {window}.")
    if max_tokens is not None and max_tokens < 1:
        raise InterpError(f"max_tokens must be positive; got {max_tokens}.")
    p = resolve_corpus(path)
    stream = token_stream(tokenizer, p)
    if max_tokens is not None:
        stream = stream[:max_tokens]
    bos = int(tokenizer.bos_token_id)
    step = window - 1
    n_windows = -(-len(stream) // step)
    padded = np.full(n_windows * step, bos, dtype=np.int64)
    padded[: len(stream)] = stream
    tokens = np.concatenate(
        [np.full((n_windows, 1), bos, dtype=np.int64), padded.reshape(n_windows, step)], axis=1
    )
    lengths = np.full(n_windows, window, dtype=np.int64)
    if n_windows and len(stream) % step:
        lengths[-1] = 1 + len(stream) % step
    return TokenWindows(str(p), fingerprint(p), window, bos, stream, tokens, lengths)


# -- the default corpus ---------------------------------------------------------------------
def extract_wordnet(source: str | os.PathLike, out: str | os.PathLike) -> dict[str, int]:
    """Write the glosses of WordNet's ``data.*`` files under ``source`` to ``out``, one per
    paragraph; returns counts (glosses, words)."""
    src = Path(source)
    found = {name: next(iter(sorted(src.rglob(name))), None) for name in WORDNET_DATA}
    files = {name: f for name, f in found.items() if f is not None}
    missing = [name for name in WORDNET_DATA if name not in files]
    if missing:
        raise InterpError(f"{src} does not hold WordNet data files {missing}.")
    glosses: list[str] = []
    for name in WORDNET_DATA:
        for line in files[name].read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("  ") or " | " not in line:  # licence header, malformed
                continue
            gloss = line.split(" | ", 1)[1].strip()
            if gloss:
                glosses.append(gloss)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text("\n\n".join(glosses) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return {"glosses": len(glosses), "words": sum(len(g.split()) for g in glosses)}


def fetch_default_corpus(dest: str | os.PathLike | None = None) -> Path:
    """Obtain the default corpus (idempotent: an existing file is kept, nothing is fetched)."""
    target = Path(dest) / DEFAULT_FILE if dest is not None else default_corpus_path()
    if target.exists():
        return target
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise InterpError(
                f"`{tool}` is not available, so the default corpus ({DEFAULT_PACKAGE} from "
                "Debian) cannot be fetched here. Use any English text instead: "
                "--corpus FILE_OR_DIR (a .txt file or a directory of .txt files)."
            )
    with tempfile.TemporaryDirectory(prefix="interp-corpus-") as tmp:
        got = subprocess.run(
            ["apt-get", "download", DEFAULT_PACKAGE], cwd=tmp, capture_output=True, text=True
        )
        debs = sorted(Path(tmp).glob("*.deb"))
        if got.returncode != 0 or not debs:
            raise InterpError(
                f"`apt-get download {DEFAULT_PACKAGE}` failed: {got.stderr.strip()[-300:]}\n"
                "If the package is unknown, the package lists may be missing: run "
                "`apt-get update` (as root) and retry, or pass --corpus FILE_OR_DIR."
            )
        unpacked = Path(tmp) / "unpacked"
        out = subprocess.run(
            ["dpkg", "-x", str(debs[0]), str(unpacked)], capture_output=True, text=True
        )
        if out.returncode != 0:
            raise InterpError(f"`dpkg -x` failed: {out.stderr.strip()[-300:]}")
        extract_wordnet(unpacked, target)
    return target


def describe(tokenizer, path: str | os.PathLike | None = None) -> dict[str, object]:
    """Size of a corpus: documents, words, tokens of ``tokenizer`` and unknown-token share."""
    p = resolve_corpus(path)
    docs = documents(p)
    stream = token_stream(tokenizer, p)
    unk = getattr(tokenizer, "unk_token_id", None)
    real = stream[stream != tokenizer.bos_token_id]
    distinct_unk = unk is not None and unk != tokenizer.bos_token_id
    return {
        "path": str(p),
        "fingerprint": fingerprint(p),
        "documents": len(docs),
        "words": sum(len(d.split()) for d in docs),
        "tokens": int(real.shape[0]),
        "unknown_share": float((real == unk).mean()) if distinct_unk and len(real) else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m interp.core.corpus fetch [DEST_DIR]`` | ``stats [PATH]``."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["fetch"]:
            path = fetch_default_corpus(args[1] if len(args) > 1 else None)
            print(path)
            return 0
        if args[:1] == ["stats"]:
            from interp.core.reference.tokenizer import build_tokenizer

            stats = describe(build_tokenizer(), args[1] if len(args) > 1 else None)
            for key, value in stats.items():
                print(f"{key}: {value}")
            return 0
    except InterpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
