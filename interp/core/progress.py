"""The progress bar every long loop shows (sweeps, mining, training): tqdm on stderr, quiet
when stderr is not a terminal unless forced, so CI logs stay readable."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    """``tqdm(iterable, **kwargs)`` on stderr, hidden when stderr is not a terminal.

    >>> for _ in progress(range(3), desc="demo"):
    ...     pass
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", None)  # None: disable when not a tty
    kwargs.setdefault("leave", False)
    kwargs.setdefault("file", sys.stderr)
    return tqdm(iterable, **kwargs)
