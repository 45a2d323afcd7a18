"""Every `>>>` example in nervo's public docstrings runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest

import nervo

# Modules whose import needs something a test run may not have (they are tested elsewhere).
SKIP_PREFIXES = ("nervo.backend.numba", "nervo._C")


def _modules():
    names = ["nervo"]
    for info in pkgutil.walk_packages(nervo.__path__, "nervo."):
        if not info.name.startswith(SKIP_PREFIXES):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional extra that is not installed
        pytest.skip(f"{name}: {exc}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        if test.examples:
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} docstring example(s) failed (run with -s to see them)"
