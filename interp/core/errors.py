"""One exception type for every mistake a user can make.

Analyses raise :class:`InterpError` (or a subclass) with a message that says what was wrong
and what to do about it. The CLI, the experiment scripts and the dashboard catch it and show
the message instead of a traceback; anything else that escapes is a bug.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


class InterpError(Exception):
    """A user-facing error: the message is meant to be read, not debugged."""


class ModelNotFoundError(InterpError):
    """Unknown model name, missing directory, or weights that cannot be obtained."""


class PromptError(InterpError):
    """Empty prompt, prompt longer than the context window, or an unusable token."""


class TokenizationError(PromptError):
    """A word that must be exactly one token is not (or is unknown to the vocabulary)."""


def exit_code(fn: Callable[[], Any], interrupted: str = "interrupted") -> int:
    """Run ``fn`` as a command: its result as the exit code (0 for None); an
    :class:`InterpError` printed as one line with code 2; Ctrl-C as ``interrupted`` with
    code 130. Every command line of the project (``interp``, scripts, ``interp.scale``) ends
    through here.

    >>> exit_code(lambda: None)
    0
    """
    try:
        return int(fn() or 0)
    except InterpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130
