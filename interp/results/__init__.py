"""Results: the :class:`~interp.results.base.Result` dataclasses every analysis returns, the
one registry of stored kinds, and the results store (SQLite + safetensors) that keeps them.

Above :mod:`interp.core` only: result classes live with the methods that make them and are
found through :data:`~interp.results.base.KINDS` by path, never imported from here.
"""
