"""Subcommands of the ``interp`` command line, one module each.

Every module here defines ``register(subparsers)``, adding its parser with
``set_defaults(func=...)``; the function gets the parsed namespace and returns an exit code.
"""

COMMAND_MODULES = [
    "interp.commands.basics",  # models, runs, show
    "interp.commands.lens",  # lens
    "interp.commands.neurons",  # neuron, mine
    "interp.commands.train",  # train
    "interp.scale.cli",  # grid (Ray; imported only when the command runs)
]
