"""One exception type for every mistake a user can make.

Analyses raise :class:`InterpError` (or a subclass) with a message that says what was wrong
and what to do about it. The CLI, the experiment scripts and the dashboard catch it and show
the message instead of a traceback; anything else that escapes is a bug.
"""


class InterpError(Exception):
    """A user-facing error: the message is meant to be read, not debugged."""


class ModelNotFoundError(InterpError):
    """Unknown model name, missing directory, or weights that cannot be obtained."""


class PromptError(InterpError):
    """Empty prompt, prompt longer than the context window, or an unusable token."""


class TokenizationError(PromptError):
    """A word that must be exactly one token is not (or is unknown to the vocabulary)."""
