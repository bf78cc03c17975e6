"""Config dataclasses whose field docs become command-line help (as in tuned-lens).

Declare a dataclass whose fields carry ``help`` in their metadata; :func:`parse` builds the
argparse parser (``--n-prompts`` for ``n_prompts``), so scripts, tests and the dashboard
share one definition of an experiment's knobs, and the whole config is stored with a run.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with command-line help."""
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda: default, metadata={"help": help, **kwargs})
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


def build_parser(cls: type, description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description or (cls.__doc__ or "").strip(),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind = hints[f.name]
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"{cls.__name__}.{f.name} needs a default to be a command-line option")
        extra = {k: v for k, v in f.metadata.items() if k != "help"}
        args: dict[str, Any] = {"default": default, "help": f.metadata.get("help", ""), **extra}
        origin, inner = typing.get_origin(kind), typing.get_args(kind)
        if kind is bool:
            args["action"] = argparse.BooleanOptionalAction
        elif origin in (list, tuple):
            args.update(nargs="*", type=inner[0])
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            base = [a for a in inner if a is not type(None)][0]
            args["type"] = base
        else:
            args["type"] = kind
        parser.add_argument(flag, dest=f.name, **args)
    return parser


def parse(cls: type[T], argv: Sequence[str] | None = None, description: str | None = None) -> T:
    namespace = build_parser(cls, description).parse_args(argv)
    return cls(**vars(namespace))
