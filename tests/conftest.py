import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402

import jkb as K  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_config():
    """Each test starts with default config and a fresh session."""
    K.clear_session()
    K.set_floatx("float32")
    K.set_epsilon(1e-7)
    K.set_image_data_format("channels_last")
    yield
    K.clear_session()
    K.set_floatx("float32")
    K.set_epsilon(1e-7)
    K.set_image_data_format("channels_last")
