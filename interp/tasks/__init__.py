"""Prompt datasets as frozen :class:`~interp.tasks.base.Task` bundles, found by name.

A small registry: ``TASKS`` maps a task name to ``"module:function"``, imported only when
the task is built, so ``import interp.tasks`` stays cheap. Every builder has the signature
``build(model, n_prompts=..., seed=..., **options) -> Task``; :func:`make_task` validates the
name and calls it. Other task modules register themselves by adding an entry (or calling
:func:`register_task`).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from interp.core.errors import InterpError

TASKS: dict[str, str] = {
    "ioi": "interp.tasks.ioi:ioi_task",
    "capitals": "interp.tasks.relations:capital_task",
    "past_tense": "interp.tasks.relations:past_tense_task",
}


def register_task(name: str, target: str) -> None:
    """Add a task builder, given as ``"package.module:function"``."""
    if ":" not in target:
        raise ValueError(f"task target must look like 'module:function'; got {target!r}")
    TASKS[name] = target


def task_names() -> list[str]:
    return sorted(TASKS)


def make_task(name: str, model: Any, n_prompts: int, seed: int = 0, **options: Any):
    """Build task ``name`` for ``model`` (clear :class:`InterpError` for unknown names).

    >>> from interp import load
    >>> make_task("ioi", load("reference:ioi"), n_prompts=4).n_prompts
    4
    >>> make_task("greater_than", load("reference:ioi"), n_prompts=4)
    Traceback (most recent call last):
    ...
    interp.core.errors.InterpError: unknown task 'greater_than'; known tasks: ...
    """
    if name not in TASKS:
        raise InterpError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    module, function = TASKS[name].split(":")
    return getattr(import_module(module), function)(
        model, n_prompts=n_prompts, seed=seed, **options
    )
