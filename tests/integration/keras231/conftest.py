"""Integration tests: multi-backend Keras 2.3.1 (unchanged, from PyPI) running on jkb.

The environment is prepared when this conftest is imported, which every pytest process
(each pytest-xdist worker included) does before it imports any test module here, hence
before Keras: ``KERAS_BACKEND=jkb`` selects jkb and ``KERAS_HOME`` points at a fresh
temporary directory, so Keras writes its ``keras.json`` there and never in the user's home.

Every test collected here gets the ``keras231`` marker. Each test module starts with
``pytest.importorskip("keras", reason=KERAS_MISSING)``, so without Keras installed
(``pip install -e '.[keras231]'``) the modules are reported as skipped with that reason.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import pytest

os.environ["KERAS_BACKEND"] = "jkb"
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="jkb-keras-home-")

_HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.hookimpl(tryfirst=True)  # before `-m` selection looks at the markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).startswith(_HERE):
            item.add_marker(pytest.mark.keras231)


@pytest.fixture(autouse=True)
def _keras_on_jkb_and_seeded():
    """Checks Keras really runs on jkb; fixes the NumPy seed (data, Keras' shuffling) and
    jkb's random stream (initializers, dropout)."""
    import jkb

    keras = sys.modules.get("keras")
    if keras is not None:
        assert keras.backend.backend() == "jkb", (
            f"Keras was imported with backend {keras.backend.backend()!r} before this "
            "conftest could select jkb")
    np.random.seed(1234)
    jkb.set_random_seed(1234)
    yield
