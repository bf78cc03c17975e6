"""What the mining benchmarks share: the corpus they time on.

Imported by the benchmark scripts as ``from common import ...`` (a script's own folder is
first on ``sys.path`` when it runs as ``python benchmarks/NAME.py``).
"""

from __future__ import annotations

import random
from pathlib import Path


def bench_corpus(corpus: str, tokens: int, tmp: Path) -> Path:
    """``corpus`` when given, else the WordNet glosses when fetched, else ~``tokens`` tokens of
    seeded random reference-vocabulary words written under ``tmp``."""
    from interp.core.corpus import default_corpus_path
    from interp.core.reference.vocab import COMMON_WORDS

    if corpus:
        return Path(corpus)
    if default_corpus_path().exists():
        return default_corpus_path()
    rng = random.Random(0)
    text = "\n\n".join(
        " ".join(rng.choice(COMMON_WORDS) for _ in range(rng.randint(8, 40)))
        for _ in range(tokens // 20)
    )
    path = tmp / "synthetic.txt"
    path.write_text(text)
    return path
