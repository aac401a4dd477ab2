import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import pytest  # noqa: E402

import jkb as K  # noqa: E402

# The NumPy references compute float32 matmuls and convolutions in full precision. On GPUs
# and TPUs JAX's default precision runs them in TF32/bfloat16 passes (on an H200, 7 tests
# missed rtol 1e-4 by up to 4e-2), so the suite asks JAX for full precision; jkb itself
# follows whatever ``jax_default_matmul_precision`` the user sets (tests/test_shapes.py).
jax.config.update("jax_default_matmul_precision", "highest")
# The suite checks float64/int64 behaviour throughout (Keras-2 code and Keras 2.3.1 ask for
# them by name), so it opts in to JAX's 64-bit mode, as such a user would; jkb itself leaves
# JAX's setting alone (tests/test_config.py checks the default and off modes in
# subprocesses).
jax.config.update("jax_enable_x64", True)


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
