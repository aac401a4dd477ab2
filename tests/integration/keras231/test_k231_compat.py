"""Loading Keras 2.3.1 on jkb: backend selection, the restorations of jkb/_keras231.py and
their switch, and jkb's session helpers exposed through ``keras.backend``."""

import collections
import inspect
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip(
    "keras", reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")

import h5py  # noqa: E402

import jkb  # noqa: E402
from jkb import _keras231  # noqa: E402

K = keras.backend


def _run(*code, **env):
    """Runs the code snippets in a fresh interpreter (Keras loads once per process)."""
    full_env = dict(os.environ, **env)
    source = "\n".join(textwrap.dedent(c) for c in code)
    proc = subprocess.run([sys.executable, "-c", source], env=full_env,
                          capture_output=True, text=True, timeout=120)
    return proc


def test_keras_uses_jkb_and_its_config():
    assert K.backend() == "jkb"
    assert K.placeholder is jkb.placeholder and K.function is jkb.function
    with open(os.path.join(os.environ["KERAS_HOME"], "keras.json")) as f:
        assert json.load(f)["floatx"] == "float32"
    # Keras owns the configuration; jkb reads and writes the same values.
    K.set_floatx("float64")
    assert jkb.floatx() == "float64"
    jkb.set_epsilon(1e-5)
    assert K.epsilon() == 1e-5
    assert K.variable(np.ones(2)).dtype == "float64"


def test_session_helpers_are_attached_to_keras_backend():
    for name in ("clear_session", "get_session", "set_session",
                 "manual_variable_initialization"):
        assert getattr(K, name) is getattr(jkb, name)
    from keras.backend import clear_session  # the import form users write

    v = K.variable(np.zeros(3))
    clear_session()
    with pytest.raises(ValueError, match="does not belong to the current session"):
        K.get_value(v)
    assert K.get_uid("dense") == 1


def test_restored_names():
    assert np.Inf == np.inf and -np.Inf < 0
    assert np.string_ is np.bytes_ and np.unicode_ is np.str_ and np.int is int
    assert collections.Iterable is collections.abc.Iterable
    assert collections.Mapping is collections.abc.Mapping
    assert collections.Sequence is collections.abc.Sequence
    assert collections.Container is collections.abc.Container

    def f(a, b=2, *args, **kw):
        return a

    spec = keras.utils.generic_utils.getargspec(f)  # builds an inspect.ArgSpec
    assert isinstance(spec, inspect.ArgSpec)
    assert spec == (["a", "b"], "args", "kw", (2,)) and spec.keywords == "kw"


def test_keras_code_using_restored_names():
    from keras.callbacks import ModelCheckpoint
    from keras.preprocessing.sequence import pad_sequences

    assert ModelCheckpoint("w.h5", mode="min").best == np.inf  # np.Inf
    padded = pad_sequences([[1, 2], [3]], maxlen=3)  # np.unicode_
    np.testing.assert_array_equal(padded, [[0, 1, 2], [0, 0, 3]])


def test_h5py_2_behaviours(tmp_path):
    path = str(tmp_path / "a.h5")
    f = h5py.File(path)  # h5py 2 default mode 'a': creates the file
    try:
        f.attrs["bytes"] = b"jkb"
        f.attrs["text"] = "caf\u00e9"
        f.attrs["names"] = [b"dense_1", b"dense_2"]
        f.attrs["fixed"] = np.array([b"a", b"bc"])
        assert f.fid == f.id
    finally:
        f.close()
    with h5py.File(path, "r") as f:
        assert f.attrs["bytes"] == b"jkb"  # written as bytes -> read back as bytes
        assert f.attrs["text"] == "caf\u00e9"  # UTF-8 strings stay str, as in h5py 2
        assert [n.decode("utf8") for n in f.attrs["names"]] == ["dense_1", "dense_2"]
        assert f.attrs["fixed"].tolist() == [b"a", b"bc"]
    with h5py.File(path) as f:  # existing file: opened for reading and writing
        f.attrs["more"] = 1
    with h5py.File(path, "r") as f:
        assert f.attrs["more"] == 1


def test_save_model_to_file_like_object():
    # io_utils.save_to_binary_h5py relies on File(name) defaulting to 'a' and on `.fid`.
    import io

    model = keras.models.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    buf = io.BytesIO()
    model.save(buf)
    buf.seek(0)
    loaded = keras.models.load_model(buf)
    x = np.random.rand(4, 3).astype("float32")
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), rtol=1e-6)


def test_compat_is_documented_and_switchable():
    assert "JKB_KERAS_COMPAT" in _keras231.__doc__
    assert _keras231.compat_enabled()
    for off in ("0", "false", "no", "off"):
        os.environ["JKB_KERAS_COMPAT"] = off
        try:
            assert not _keras231.compat_enabled()
        finally:
            del os.environ["JKB_KERAS_COMPAT"]


_CHECK = """
    import collections, sys, numpy as np, h5py
    print('Inf' in np.__dict__, hasattr(collections, 'Iterable'), hasattr(h5py.File, 'fid'))
"""


def test_keras_imported_first_loads_and_patches(tmp_path):
    proc = _run("""
        import keras
        import keras.backend as K
        import jkb
        assert K.backend() == 'jkb' and K.clear_session is jkb.clear_session
    """, _CHECK, KERAS_BACKEND="jkb", KERAS_HOME=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "True", "True"]
    assert "Using jkb backend." in proc.stderr


def test_keras_json_selects_jkb(tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({
        "backend": "jkb", "floatx": "float64", "epsilon": 1e-6,
        "image_data_format": "channels_first"}))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import jkb, keras
        print(keras.backend.backend(), jkb.floatx(), jkb.epsilon(), jkb.image_data_format(),
              keras.backend.get_session is jkb.get_session)
    """)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["jkb", "float64", "1e-06", "channels_first", "True"]


def test_jkb_without_keras_restores_nothing():
    proc = _run("import jkb", _CHECK)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "False"]


def test_compat_off_leaves_libraries_alone(tmp_path):
    # Without the restorations Keras 2.3.1 cannot even be imported on Python 3.11
    # (keras/callbacks: `from collections import Iterable`).
    proc = _run("import keras", KERAS_BACKEND="jkb", KERAS_HOME=str(tmp_path),
                JKB_KERAS_COMPAT="0")
    assert proc.returncode != 0
    assert "cannot import name 'Iterable' from 'collections'" in proc.stderr
