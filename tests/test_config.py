"""Configuration: floatx, epsilon, data format, Keras delegation, the x64 policy."""

import importlib.util
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


def _python(code, *flags, **env):
    """Runs ``code`` in a fresh interpreter with the environment's x64 variables unset
    unless given in ``env``; returns its stdout (the run must succeed)."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("JKB_ENABLE_X64", "JAX_ENABLE_X64", "KERAS_BACKEND")}
    out = subprocess.run([sys.executable, *flags, "-c", code], env={**base, **env},
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


_REPORT = ("import jax, jax.numpy as jnp\n"
           "print('x64', jax.config.jax_enable_x64, jnp.ones(2).dtype)\n")


@pytest.mark.parametrize("before,env,want", [
    ("", {}, "x64 False float32"),                       # jkb leaves JAX's default alone
    ("", {"JAX_ENABLE_X64": "0"}, "x64 False float32"),
    ("", {"JAX_ENABLE_X64": "1"}, "x64 True float64"),
    ("jax.config.update('jax_enable_x64', True)\n", {}, "x64 True float64"),
    ("", {"JKB_ENABLE_X64": "1"}, "x64 True float64"),   # asked of jkb explicitly
    ("", {"JKB_ENABLE_X64": "0", "JAX_ENABLE_X64": "1"}, "x64 False float32"),
])
def test_x64_import_respects_the_user(before, env, want):
    code = "import jax\n" + before + "import jkb\n" + _REPORT
    assert want in _python(code, **env)


def test_x64_follows_the_live_setting():
    code = ("import jax, numpy as np\nimport jkb as K\n"
            "jax.config.update('jax_enable_x64', True)\n"
            "assert K.eval(K.variable(1.0, dtype='float64')).dtype == np.float64\n"
            "jax.config.update('jax_enable_x64', False)\n"
            "try:\n    K.variable(1.0, dtype='float64')\n"
            "except TypeError as e:\n    assert 'jax_enable_x64' in str(e); print('refused')\n")
    assert "refused" in _python(code)


@pytest.mark.keras231
@pytest.mark.parametrize("env,want", [({}, "x64 True"), ({"JAX_ENABLE_X64": "0"}, "x64 False")])
def test_keras_turns_x64_on_unless_the_user_chose(env, want, tmp_path):
    if importlib.util.find_spec("keras") is None:  # never imported here: it would pick TF
        pytest.skip("Keras 2.3.1 is not installed (pip install -e '.[keras231]')")
    code = ("import keras\nimport jax\nprint('x64', jax.config.jax_enable_x64)\n"
            "assert keras.backend.backend() == 'jkb'\n")
    assert want in _python(code, KERAS_BACKEND="jkb", KERAS_HOME=str(tmp_path), **env)


def test_index_ops_without_x64_emit_no_truncation_warning():
    """``python -W error``: argmax/argmin/ctc_decode give int32 when x64 is off, in both
    modes, instead of asking JAX for int64 (which warns and truncates)."""
    code = (
        "import numpy as np, jax\nimport jkb as K\n"
        "x = np.random.RandomState(0).rand(2, 5, 4).astype('float32')\n"
        "assert K.argmax(x).dtype == np.int32 and K.argmin(x, 1).dtype == np.int32\n"
        "p = K.placeholder((2, 5, 4))\n"
        "f = K.function([p], [K.argmax(p), K.argmin(p, 1)])\n"
        "assert all(o.dtype == np.int32 for o in f([x]))\n"
        "np.testing.assert_array_equal(f([x])[0], np.argmax(x, -1))\n"
        "y = K.softmax(x)\nlen_ = np.array([5, 4], np.int32)\n"
        "(d,), lp = K.ctc_decode(y, len_)\nassert d.dtype == np.int32\n"
        "(d2,), lp2 = K.ctc_decode(y, len_, greedy=False, beam_width=3)\n"
        "assert d2.dtype == np.int32\n"
        "(ds,), _ = K.ctc_decode(K.softmax(p), K.constant(len_, dtype='int32'))\n"
        "assert K.function([p], [ds])([x])[0].dtype == np.int32\n"
        "assert K.dtype(K.argmax(p)) == 'int32'\n"
        "print('ok')\n")
    assert "ok" in _python(code, "-W", "error", JKB_ENABLE_X64="0")
