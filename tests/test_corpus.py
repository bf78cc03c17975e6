"""Corpus reading, fingerprinting, windowing and the default-corpus set-up (no model needed:
the reference word-level tokenizer is built in memory)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from interp.core import corpus
from interp.core.errors import InterpError
from interp.core.reference.tokenizer import build_tokenizer, vocabulary

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    "the coffee cup was hot",
    "ice cream and rain coat",  # a paragraph on two lines below
    "the stock exchange",
]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def write_corpus(path: Path) -> Path:
    path.write_text(
        "the coffee cup was hot\n\nice cream\nand rain coat\n\n\n  the stock exchange\n"
    )
    return path


def test_documents_stream_and_windows_cover_every_token_once(tmp_path, tokenizer):
    path = write_corpus(tmp_path / "c.txt")
    assert corpus.documents(path) == DOCS
    vocab = vocabulary()
    expected = []
    for doc in DOCS:
        expected += [vocab[w] for w in doc.split()] + [vocab["<|endoftext|>"]]
    stream = corpus.token_stream(tokenizer, path)
    np.testing.assert_array_equal(stream, expected)  # 16 tokens: 13 words + 3 separators

    tw = corpus.windows(tokenizer, path, window=6)
    assert tw.n_tokens == 16 and tw.n_windows == 4  # ceil(16 / 5)
    assert (tw.tokens[:, 0] == 0).all()  # BOS first in every window
    np.testing.assert_array_equal(tw.lengths, [6, 6, 6, 2])
    real = np.concatenate([tw.tokens[w, 1 : tw.lengths[w]] for w in range(tw.n_windows)])
    np.testing.assert_array_equal(real, expected)  # each stream token exactly once, in order
    assert (tw.tokens[3, 2:] == 0).all()  # padding
    assert tw.stream_index(2, 3) == 12 and tw.stream[12] == tw.tokens[2, 3]

    nxt = tw.next_tokens()
    assert nxt[0, 2] == vocab["cup"] and nxt[0, 0] == -1  # "coffee" -> "cup"; BOS has none
    assert nxt[0, 5] == tw.tokens[1, 1]  # across the window boundary
    assert nxt[3, 1] == -1 and (nxt[3, 2:] == -1).all()  # the end of the stream, padding

    tokens, mask = tw.batch(2, 4)
    assert tokens.shape == (2, 6) and mask.dtype.is_floating_point is False
    assert tokens[1, 1] == 0 and not mask[1].any()  # the last window: the final separator
    assert not mask[:, 0].any()  # BOS is never a trigger
    # the separators inside the stream are not eligible either
    assert (mask.numpy() == (tokens.numpy() != 0)).all()

    limited = corpus.windows(tokenizer, path, window=6, max_tokens=7)
    assert limited.n_tokens == 7 and limited.n_windows == 2 and limited.lengths[-1] == 3
    assert [b for b in tw.batches(3)] == [(0, 3), (3, 4)]


def test_directory_corpus_order_and_fingerprint(tmp_path, tokenizer):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "z.txt").write_text("the stock exchange\n")
        (d / "sub" / "y.txt").write_text("the coffee cup\n")
        (d / "notes.md").write_text("not part of the corpus")
    assert corpus.corpus_files(a) == [a / "sub" / "y.txt", a / "z.txt"]
    assert corpus.documents(a) == ["the coffee cup", "the stock exchange"]
    assert corpus.fingerprint(a) == corpus.fingerprint(b)  # relative names, same bytes
    before = corpus.fingerprint(a)
    (b / "z.txt").write_text("the stock exchange!\n")
    assert corpus.fingerprint(b) != before
    (a / "sub" / "y.txt").rename(a / "sub" / "x.txt")  # a renamed file is another corpus
    assert corpus.fingerprint(a) != before


def test_bad_corpora_raise_clear_errors(tmp_path, tokenizer, monkeypatch):
    with pytest.raises(InterpError, match="does not exist"):
        corpus.windows(tokenizer, tmp_path / "missing.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InterpError, match="no .txt files"):
        corpus.windows(tokenizer, tmp_path / "empty")
    (tmp_path / "blank.txt").write_text("\n\n   \n")
    with pytest.raises(InterpError, match="contains no text"):
        corpus.windows(tokenizer, tmp_path / "blank.txt")
    path = write_corpus(tmp_path / "c.txt")
    with pytest.raises(InterpError, match="at least 2"):
        corpus.windows(tokenizer, path, window=1)
    with pytest.raises(InterpError, match="positive"):
        corpus.windows(tokenizer, path, max_tokens=0)
    monkeypatch.setenv("INTERP_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(InterpError, match="get_corpus.sh"):
        corpus.windows(tokenizer, None)


FAKE_DATA = """  1 This software and database is being provided to you, the LICENSEE, by  
  2 Princeton University under the following license.  
00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived or known  
00002137 03 n 02 abstraction 0 | a general concept; "an example"  
"""  # noqa: W291


def test_extract_wordnet_and_fetch_is_idempotent(tmp_path, monkeypatch):
    src = tmp_path / "pkg" / "usr" / "share" / "wordnet"
    src.mkdir(parents=True)
    for name in corpus.WORDNET_DATA:
        (src / name).write_text(FAKE_DATA)
    out = tmp_path / "wn" / corpus.DEFAULT_FILE
    stats = corpus.extract_wordnet(tmp_path / "pkg", out)
    assert stats == {"glosses": 8, "words": 4 * (6 + 5)}
    docs = corpus.documents(out)
    assert docs[:2] == ["that which is perceived or known", 'a general concept; "an example"']
    assert len(docs) == 8

    (src / "data.adv").unlink()
    with pytest.raises(InterpError, match="data.adv"):
        corpus.extract_wordnet(tmp_path / "pkg", tmp_path / "other.txt")

    # present: returned as is, without apt (which is made unavailable here)
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    assert corpus.fetch_default_corpus(tmp_path / "wn") == out
    with pytest.raises(InterpError, match="apt-get` is not available"):
        corpus.fetch_default_corpus(tmp_path / "nowhere")


def _script_env(tmp_path: Path, with_apt: bool) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ["dirname"] + (["apt-get", "dpkg"] if with_apt else []):
        found = shutil.which(tool)
        if found and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    env = {k: v for k, v in os.environ.items() if k != "PATH"}
    env["PATH"] = str(bin_dir)
    return env


def test_get_corpus_script(tmp_path):
    script = ROOT / "scripts" / "get_corpus.sh"
    bash = shutil.which("bash")
    dest = tmp_path / "corpus"
    dest.mkdir()
    (dest / corpus.DEFAULT_FILE).write_text("already here\n")
    done = subprocess.run(
        [bash, str(script), str(dest)], env=_script_env(tmp_path, False), capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "already present" in done.stdout  # offline and without apt: nothing to do

    missing = subprocess.run(
        [bash, str(script), str(tmp_path / "elsewhere")], env=_script_env(tmp_path, False),
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "'apt-get' is not available" in missing.stderr and "--corpus" in missing.stderr
    assert not (tmp_path / "elsewhere").exists()
