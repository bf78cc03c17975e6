"""The ``interp`` command line: ``interp models``, ``interp runs``, ``interp lens``, ...

User mistakes (:class:`~interp.core.errors.InterpError`) are printed as one clear message with
exit status 2, never as a traceback.
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
    return exit_code(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
