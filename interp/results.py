"""Result dataclasses: what every analysis returns, and how it goes in and out of the store.

A result is a frozen dataclass whose ``np.ndarray`` fields are its arrays and whose other
fields are small JSON-able values (lists of token strings, scalars, dicts). The split is
automatic, so any result can be saved with :func:`save` and rebuilt with
:func:`load_result` without per-class code; each class adds a ``figure()`` method
(in :mod:`interp.viz`-style plotly) for scripts and the dashboard to share.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, TypeVar

import numpy as np

R = TypeVar("R", bound="Result")
_REGISTRY: dict[str, type[Result]] = {}


@dataclasses.dataclass(frozen=True)
class Result:
    """Base class: subclasses set ``kind`` and add fields."""

    kind: ClassVar[str] = "result"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _REGISTRY[cls.kind] = cls

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            f.name: np.asarray(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        }

    def summary(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if not isinstance(getattr(self, f.name), np.ndarray)
        }

    @classmethod
    def from_parts(cls: type[R], summary: dict[str, Any], arrays: dict[str, np.ndarray]) -> R:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in summary.items() if k in names}
        values.update({k: v for k, v in arrays.items() if k in names})
        return cls(**values)


def result_class(kind: str) -> type[Result]:
    """The Result subclass stored under ``kind``. Classes register when their module is
    imported, so an unknown kind first imports every analysis module (a fresh process that
    only wants to read a stored run has imported none)."""
    if kind not in _REGISTRY:
        import importlib
        import pkgutil

        import interp.analyses

        for module in pkgutil.iter_modules(interp.analyses.__path__):
            importlib.import_module(f"interp.analyses.{module.name}")
    if kind not in _REGISTRY:
        from interp.errors import InterpError

        raise InterpError(f"no result class for stored kind {kind!r}")
    return _REGISTRY[kind]


def save(
    result: Result,
    *,
    model: Any,
    config: Any,
    seed: int | None = None,
    store: Any = None,
    kind: str | None = None,
    extra_summary: dict[str, Any] | None = None,
) -> Any:
    """Record ``result`` in the results store; returns the store's run record."""
    from interp.models import ModelRecord, record_of
    from interp.store import ResultsStore

    record = model if isinstance(model, ModelRecord) else record_of(model)
    store = store or ResultsStore()
    summary = {**result.summary(), **(extra_summary or {})}
    return store.save(
        kind or result.kind,
        model=record.to_dict(),
        config=config,
        seed=seed,
        summary=summary,
        arrays=result.arrays(),
    )


def load_result(run_id: str, store: Any = None) -> Result:
    """Rebuild the result dataclass of a stored run."""
    from interp.store import ResultsStore

    store = store or ResultsStore()
    record = store.get(run_id)
    return result_class(record.kind).from_parts(record.summary, store.arrays(run_id))
