"""What every experiment script shares: config parsing, clear errors, a progress bar factory.

An experiment is ``main(config) -> dict`` (the JSON summary). :func:`run_script` parses the
config dataclass from the command line, runs it, turns :class:`InterpError` into a one-line
message with exit status 2, and writes ``--json`` when the config has a ``json`` field.
A config that inherits :class:`~interp.core.config.DeviceOptions` has its ``--device``,
``--dtype`` and ``--memory`` checked before any work (and the budget applied); scripts load
their model with :func:`~interp.core.config.load_for`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from interp.core.config import DeviceOptions, apply_device_options, load_for, parse
from interp.core.errors import exit_code
from interp.core.progress import progress

__all__ = ["DeviceOptions", "load_for", "progress", "run_script", "to_jsonable"]

C = TypeVar("C")


def to_jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def run_script(main: Callable[[C], dict[str, Any]], config_cls: type[C], argv=None) -> int:
    config = parse(config_cls, argv, description=sys.modules[main.__module__].__doc__)

    def run() -> int:
        if isinstance(config, DeviceOptions):
            apply_device_options(config)
        summary = main(config)
        path = getattr(config, "json", None)
        if path:
            Path(path).write_text(json.dumps(to_jsonable(summary), indent=2))
            print(f"wrote {path}")
        return 0

    return exit_code(run, "interrupted: nothing half-written was stored")
