"""Config dataclasses whose field docs become command-line help (as in tuned-lens).

Declare a dataclass whose fields carry ``help`` in their metadata; :func:`parse` builds the
argparse parser (``--n-prompts`` for ``n_prompts``), so scripts, tests and the dashboard
share one definition of an experiment's knobs, and the whole config is stored with a run.

Where the work runs is one shared set of knobs, :class:`DeviceOptions` (``--device``,
``--dtype``, ``--memory``): experiment configs inherit it, the ``interp`` subcommands add it
with :func:`add_device_arguments`, and both load their model with :func:`load_for`, which
validates the three, applies the memory budget process-wide
(:func:`interp.core.device.set_memory_budget`) and calls :func:`interp.core.models.load`.
How prompts are tokenised rides along: ``--prepend-bos/--no-prepend-bos`` (also
``--bos/--no-bos``, field ``prepend_bos``, default True) is passed to ``load`` and recorded in
the model's record.

Example::

    >>> @dataclasses.dataclass
    ... class Config(DeviceOptions):
    ...     model: str = option("reference:ioi", "model name or directory")
    >>> parse(Config, ["--memory", "2GiB", "--device", "cpu"]).memory
    '2GiB'
    >>> parse(Config, ["--no-bos"]).prepend_bos
    False
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: the fields of :class:`DeviceOptions`, in the order ``--help`` lists them
DEVICE_FIELDS = ("device", "dtype", "memory")
DEVICE_HELP = {
    "device": "where to run: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps",
    "dtype": "weights and activations: float32, bfloat16 (CPU or GPU) or float16 (GPU only); "
    "reductions are taken in float32 either way",
    "memory": "memory budget of one batched forward of a sweep, e.g. 512MiB or 8GiB "
    "(default: $INTERP_MEMORY_BUDGET, else half the device's free memory, at most 768 MiB "
    "on a CPU)",
}
DEVICE_DEFAULTS: dict[str, str | None] = {"device": "auto", "dtype": "float32", "memory": None}
#: ``--prepend-bos/--no-prepend-bos`` (also ``--bos/--no-bos``): how prompts are tokenised
BOS_HELP = (
    "start every prompt with the BOS token (transformer-lens's GPT-2 default); --no-bos "
    "tokenises without it, as Hugging Face's GPT-2 tokenizer and Merullo et al.'s code do. "
    "It changes the results and is recorded with every run"
)
BOS_FLAGS = ("--prepend-bos", "--bos")


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
        extra = {k: v for k, v in f.metadata.items() if k not in ("help", "flags")}
        text = f.metadata.get("help", "").replace("%", "%%")  # argparse formats help with %
        args: dict[str, Any] = {"default": default, "help": text, **extra}
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
        parser.add_argument(flag, *f.metadata.get("flags", ()), dest=f.name, **args)
    return parser


def parse(cls: type[T], argv: Sequence[str] | None = None, description: str | None = None) -> T:
    namespace = build_parser(cls, description).parse_args(argv)
    return cls(**vars(namespace))


@dataclasses.dataclass
class DeviceOptions:
    """Where and how big: ``--device``, ``--dtype``, ``--memory`` (inherit it in a config)."""

    device: str = option(DEVICE_DEFAULTS["device"], DEVICE_HELP["device"])
    dtype: str = option(DEVICE_DEFAULTS["dtype"], DEVICE_HELP["dtype"])
    memory: str | None = option(DEVICE_DEFAULTS["memory"], DEVICE_HELP["memory"])
    prepend_bos: bool = option(True, BOS_HELP, flags=BOS_FLAGS[1:])


def add_device_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--device``, ``--dtype`` and ``--memory`` (:class:`DeviceOptions`) to a parser."""
    for name in DEVICE_FIELDS:
        parser.add_argument(
            "--" + name, default=DEVICE_DEFAULTS[name], help=DEVICE_HELP[name], dest=name
        )
    parser.add_argument(
        *BOS_FLAGS, default=True, action=argparse.BooleanOptionalAction, help=BOS_HELP,
        dest="prepend_bos",
    )  # fmt: skip
    return parser


def apply_device_options(options: Any) -> dict[str, Any]:
    """Validate ``options.device/dtype/memory`` (a config or a parsed namespace; missing
    attributes take their defaults), apply the memory budget process-wide and return them as
    :func:`interp.core.models.load` keyword arguments. Mistakes raise
    :class:`~interp.core.errors.InterpError` (one line, exit status 2 on the command line).

    >>> apply_device_options(argparse.Namespace(device="cpu", dtype="bf16", memory=None))
    {'device': 'cpu', 'dtype': 'bf16'}
    """
    from interp.core.device import parse_dtype, pick_device, set_memory_budget

    device = getattr(options, "device", None) or DEVICE_DEFAULTS["device"]
    dtype = getattr(options, "dtype", None) or DEVICE_DEFAULTS["dtype"]
    parse_dtype(str(dtype), pick_device(device))  # raises for an unknown or unsupported dtype
    set_memory_budget(getattr(options, "memory", None))
    kwargs: dict[str, Any] = {"device": device, "dtype": dtype}
    if getattr(options, "prepend_bos", None) is not None:  # --prepend-bos / --no-bos
        kwargs["prepend_bos"] = bool(options.prepend_bos)
    return kwargs


def load_for(options: Any, name: str | None = None) -> Any:
    """Load ``name`` (default: ``options.model``) as :func:`apply_device_options` says.

    >>> model = load_for(argparse.Namespace(model="reference:ioi", device="cpu"))
    >>> model.cfg.n_layers
    8
    """
    from interp.core.models import load

    return load(name if name is not None else options.model, **apply_device_options(options))
