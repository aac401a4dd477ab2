"""Configuration: floatx, epsilon, data format, Keras delegation, the x64 policy."""

import os
import subprocess
import sys
import types

import numpy as np
import pytest

import jkb as K


def test_defaults_and_setters():
    assert K.floatx() == "float32" and K.epsilon() == 1e-7
    assert K.image_data_format() == "channels_last"
    K.set_epsilon(1e-4)
    assert K.epsilon() == 1e-4
    for fx in ("float16", "float64", "float32"):
        K.set_floatx(fx)
        assert K.floatx() == fx
    with pytest.raises(ValueError, match="floatx"):
        K.set_floatx("int32")
    K.set_image_data_format("channels_first")
    assert K.image_data_format() == "channels_first" and K.image_dim_ordering() == "th"
    with pytest.raises(ValueError, match="data_format"):
        K.set_image_data_format("nhwc")
    K.set_image_dim_ordering("tf")
    assert K.image_data_format() == "channels_last"
    with pytest.raises(ValueError, match="dim_ordering"):
        K.set_image_dim_ordering("xx")


def test_normalize_data_format():
    assert K.normalize_data_format(None) == "channels_last"
    assert K.normalize_data_format("Channels_First") == "channels_first"
    K.set_image_data_format("channels_first")
    assert K.normalize_data_format(None) == "channels_first"
    with pytest.raises(ValueError, match="data_format"):
        K.normalize_data_format("channels_middle")


def test_cast_to_floatx_is_host_numpy():
    out = K.cast_to_floatx(3)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == ()
    K.set_floatx("float64")
    assert K.cast_to_floatx([1, 2]).dtype == np.float64


def test_floatx_read_at_call_time_by_ops():
    K.set_floatx("float64")
    assert K.dtype(K.placeholder((2,))) == "float64"
    assert K.dtype(K.variable([1, 2])) == "float64"
    assert K.dtype(K.sigmoid(K.placeholder((2,), dtype="int32"))) == "float64"
    assert K.eval(K.random_normal((2,))).dtype == np.float64
    K.set_floatx("float16")
    assert K.dtype(K.constant(1.0)) == "float16"


def test_keras_common_module_owns_config(monkeypatch):
    """When Keras 2.3.1 loaded jkb, its keras.backend.common holds the values."""
    store = {"floatx": "float64", "epsilon": 1e-3, "fmt": "channels_first"}
    common = types.ModuleType("keras.backend.common")
    common._FLOATX = "float64"
    common.floatx = lambda: store["floatx"]
    common.set_floatx = lambda v: store.__setitem__("floatx", v)
    common.epsilon = lambda: store["epsilon"]
    common.set_epsilon = lambda v: store.__setitem__("epsilon", v)
    common.image_data_format = lambda: store["fmt"]
    common.set_image_data_format = lambda v: store.__setitem__("fmt", v)
    monkeypatch.setitem(sys.modules, "keras.backend.common", common)
    assert K.floatx() == "float64" and K.epsilon() == 1e-3
    assert K.image_data_format() == "channels_first"
    assert K.dtype(K.variable(1.0)) == "float64"
    K.set_epsilon(0.5)
    K.set_floatx("float32")
    assert store["epsilon"] == 0.5 and store["floatx"] == "float32"
    monkeypatch.delitem(sys.modules, "keras.backend.common")
    assert K.epsilon() == 1e-7  # jkb's own value was never touched


def test_x64_policy_off_refuses_64_bit():
    code = ("import jkb as K\n"
            "assert K.dtype(K.variable(1.0)) == 'float32'\n"
            "try:\n"
            "    K.variable(1.0, dtype='float64')\n"
            "except TypeError as e:\n"
            "    assert 'JKB_ENABLE_X64' in str(e)\n"
            "    print('refused')\n")
    env = dict(os.environ, JKB_ENABLE_X64="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "refused" in out.stdout
