"""Every public name of the Keras 2.3.1 backend is a real function of jkb."""

import inspect
import os

import pytest

import jkb as K

_HERE = os.path.dirname(__file__)
with open(os.path.join(_HERE, "keras2_backend_names.txt")) as fh:
    NAMES = [line.strip() for line in fh if line.strip()]


def test_names_file_is_complete():
    assert len(NAMES) == 170 and len(set(NAMES)) == 170


@pytest.mark.parametrize("name", NAMES)
def test_name_is_public_and_callable(name):
    assert hasattr(K, name), f"jkb lacks K.{name}"
    obj = getattr(K, name)
    assert callable(obj), f"K.{name} is not callable"
    assert inspect.getdoc(obj), f"K.{name} has no docstring"
    if name not in ("backend", "symbolic", "eager"):
        src = inspect.getsource(obj) if inspect.isfunction(obj) else ""
        assert "NotImplementedError" not in src, f"K.{name} is a stub"
