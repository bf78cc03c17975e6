"""``python -m interp.scale grid SCRIPT --vary NAME=VALUES [--workers N]``."""

from __future__ import annotations

import sys

from interp.scale.cli import main

if __name__ == "__main__":
    sys.exit(main())
