"""The examples in the public docstrings of data, metrics, io and train run and hold."""
import doctest
import importlib

import numpy as np
import pytest

MODULES = ["nervo.data.dataset", "nervo.data.loader", "nervo.data.transforms",
           "nervo.metrics.classification", "nervo.io", "nervo.train.trainer"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
