"""Every worked example in interp's docstrings runs as written (the style guide: "a worked
example in the docstring of every public entry point; the example is a test").

The modules are found by reading the source under ``interp/`` for ``>>>`` (nothing is
imported at collection); each one is a test that imports it and runs its examples with the
standard :mod:`doctest` (``ELLIPSIS``, ``NORMALIZE_WHITESPACE``) in a temporary working
directory with an empty results store of its own, so that nothing an example writes lands in
the repository and no example finds another module's stored runs or mining jobs. Living
here, the tests get conftest.py's runtime type checks (an example that passes a wrong type
fails) and its temporary model cache. The modules of ``interp.scale`` are skipped when Ray is
not installed.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "interp"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples() -> list[str]:
    """Dotted names of the modules of interp whose source has a ``>>>`` line."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = modules_with_examples()


class Finder(doctest.DocTestFinder):
    """Reports the line of the function itself, not that of the type checks' wrapper."""

    def _find_lineno(self, obj, source_lines):
        return super()._find_lineno(inspect.unwrap(obj), source_lines)


def ray_missing() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return True
    return False


@pytest.mark.parametrize("name", MODULES, ids=MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    if name.startswith("interp.scale.") and ray_missing():
        pytest.skip("interp.scale's examples need Ray: pip install -e '.[scale]'")
    monkeypatch.chdir(tmp_path)
    # a results store of the module's own: its examples' runs and mining jobs start afresh
    monkeypatch.setenv("INTERP_RESULTS_DIR", str(tmp_path / "results"))
    module = importlib.import_module(name)
    tests = Finder().find(module, name)
    assert any(test.examples for test in tests), f"{name} has '>>>' but no examples were found"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in tests:
        runner.run(test, out=report.append)
    if runner.failures:
        pytest.fail(
            f"{runner.failures} of {runner.tries} examples in {name} failed:\n" + "".join(report)
        )
