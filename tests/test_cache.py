"""The opt-in persistent compilation cache (jkb.cache)."""

import os

import jax
import numpy as np
import pytest

import jkb as K
from jkb import cache

_KEYS = ("jax_enable_compilation_cache", "jax_compilation_cache_dir",
         "jax_persistent_cache_min_compile_time_secs",
         "jax_persistent_cache_min_entry_size_bytes")


@pytest.fixture
def restore_jax_cache_config():
    saved = {k: getattr(jax.config, k) for k in _KEYS}
    yield
    cache.disable_compilation_cache()
    for k, v in saved.items():
        jax.config.update(k, v)


def _train_function():
    x = K.placeholder((None, 3))
    W = K.variable(np.eye(3, dtype=np.float32))
    loss = K.mean(K.square(K.dot(x, W)))
    (g,) = K.gradients(loss, [W])
    return K.function([x], [loss], updates=[K.update(W, W - 0.1 * g)])


def test_enable_writes_compiled_programs(tmp_path, restore_jax_cache_config):
    path = cache.enable_compilation_cache(tmp_path / "cc")
    assert path == str(tmp_path / "cc") and os.path.isdir(path)
    assert jax.config.jax_compilation_cache_dir == path
    # jkb programs compile fast: the thresholds are lowered so that they are kept anyway
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
    f = _train_function()
    f([np.ones((2, 3), np.float32)])
    entries = os.listdir(path)
    assert any("flat_program" in e for e in entries), entries


def test_switching_directories_and_disabling(tmp_path, restore_jax_cache_config):
    a = cache.enable_compilation_cache(tmp_path / "a")
    jax.jit(lambda v: v * 3 + 1)(np.arange(4.0)).block_until_ready()
    assert os.listdir(a)
    b = cache.enable_compilation_cache(tmp_path / "b")
    jax.jit(lambda v: v * 5 - 2)(np.arange(4.0)).block_until_ready()
    assert os.listdir(b)
    cache.disable_compilation_cache()
    assert jax.config.jax_compilation_cache_dir is None
    before = set(os.listdir(b))
    jax.jit(lambda v: v * 7 - 4)(np.arange(4.0)).block_until_ready()
    assert set(os.listdir(b)) == before


def test_enable_from_env(tmp_path, monkeypatch, restore_jax_cache_config):
    monkeypatch.delenv(cache.ENV_VAR, raising=False)
    assert cache.enable_from_env() is None
    monkeypatch.setenv(cache.ENV_VAR, "  ")
    assert cache.enable_from_env() is None
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "env"))
    assert cache.enable_from_env() == str(tmp_path / "env")
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "env")
