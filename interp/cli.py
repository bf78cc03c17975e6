"""The ``interp`` command line: ``interp models``, ``interp runs``, ``interp lens``, ...

User mistakes (:class:`~interp.core.errors.InterpError`) are printed as one clear message with
exit status 2, never as a traceback. Every command that computes takes ``--device``,
``--dtype`` and ``--memory`` (:func:`interp.core.config.add_device_arguments`); they are
checked, and the memory budget applied, before the command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from interp.core.errors import exit_code


def build_parser() -> argparse.ArgumentParser:
    from interp.commands import COMMAND_MODULES

    parser = argparse.ArgumentParser(
        prog="interp", description="Mechanistic-interpretability workbench for GPT-2 models."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
            continue  # a subcommand not written yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        # a command that computes: check --device/--dtype/--memory here (grid's are the runs')
        if hasattr(args, "memory") and args.command != "grid":
            from interp.core.config import apply_device_options

            apply_device_options(args)
        return args.func(args)

    return exit_code(run)


if __name__ == "__main__":
    sys.exit(main())
