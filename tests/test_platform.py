"""jkb/platform.py: XLA flags and allocator settings at import, threads, loop bodies; the
convolution formulation chosen inside loop bodies."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jkb as K
from jkb import platform as P

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAG = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"


def _fresh(code, **env):
    """Runs ``code`` in a new interpreter with jkb importable and ``env`` on top of a
    copy of this environment without any XLA/JKB/MALLOC variables; returns stdout."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("XLA_", "JKB_", "MALLOC_", "JAX_PLATFORM"))}
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.rstrip("\n").split("\n")


IMPORT = ("import os, jkb; from jax._src import xla_bridge; "
          "print(os.environ.get('XLA_FLAGS', '')); print(jkb.platform.xla_flags_status()); "
          "print(jkb.platform.malloc_status()); print(bool(xla_bridge._backends))")


def test_import_sets_the_cpu_flag_and_starts_no_backend():
    flags, status, _, started = _fresh(IMPORT)
    assert FLAG in flags.split() and status.startswith("on"), (flags, status)
    assert started == "False"


@pytest.mark.parametrize("env,why", [
    ({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=reduce"}, "already sets"),
    ({"JKB_XLA_CPU_FLAGS": "0"}, "JKB_XLA_CPU_FLAGS=0"),
    ({"JAX_PLATFORMS": "cuda"}, "does not include cpu"),
])
def test_import_leaves_xla_flags_alone(env, why):
    flags, status, _, _ = _fresh(IMPORT, **env)
    assert flags == env.get("XLA_FLAGS", "") and why in status, (flags, status)


def test_other_user_flags_are_kept():
    flags, _, _, _ = _fresh(IMPORT, XLA_FLAGS="--xla_cpu_enable_fast_math=false")
    assert flags.split() == ["--xla_cpu_enable_fast_math=false", FLAG]


def test_flags_are_not_set_once_a_backend_started():
    out = _fresh("import jax; jax.numpy.ones(2); " + IMPORT)
    assert out[0] == "" and "backend started" in out[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
@pytest.mark.parametrize("env,want", [
    ({}, "on: M_MMAP_THRESHOLD="), ({"JKB_CPU_MALLOC": "0"}, "off: JKB_CPU_MALLOC=0"),
    ({"MALLOC_ARENA_MAX": "4"}, "off: the environment sets MALLOC_ARENA_MAX"),
])
def test_malloc_settings(env, want):
    import platform as pyplatform
    if pyplatform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert _fresh(IMPORT, **env)[2].startswith(want)


def test_unknown_jaxlib_is_checked_in_its_library(monkeypatch):
    monkeypatch.setattr(P, "_jaxlib_version", lambda: (99, 0, 0))
    # the installed jaxlib has the flag: found by looking into its shared library
    assert P._jaxlib_knows_flag()


def test_cpu_info():
    info = P.cpu_info()
    assert info["os_cpus"] == os.cpu_count()
    assert 1 <= info["usable_cpus"] <= info["os_cpus"]
    assert info["cgroup_cpus"] is None or info["cgroup_cpus"] > 0


def test_loop_body_flag_nests():
    assert not P.in_loop_body()
    with P.loop_body():
        with P.loop_body():
            assert P.in_loop_body()
        assert P.in_loop_body()
    assert not P.in_loop_body()


# ----------------------------------------------------------------------------- conv in loops


def _conv_rnn(unroll):
    """A ConvLSTM-like recurrence: state <- tanh(conv(x_t, k) + conv(state, r))."""
    def run(x, k, r):
        def step(x_t, states):
            h = K.tanh(K.conv2d(x_t, k, padding="same") + K.conv2d(states[0], r, padding="same"))
            return h, [h]
        h0 = jnp.zeros(x.shape[:1] + x.shape[2:4] + (r.shape[-1],), x.dtype)
        return K.rnn(step, x, [h0], unroll=unroll, input_length=x.shape[1])[1]
    return run


def test_convolutions_in_loop_bodies_match_unrolled(monkeypatch):
    plans = []
    import jkb.conv as C
    real = C._conv_plan
    monkeypatch.setattr(C, "_conv_plan", lambda *a: plans.append(real(*a)) or plans[-1])
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 5, 3))
    k = np.random.default_rng(1).normal(size=(3, 3, 3, 6)) * 0.3
    r = np.random.default_rng(2).normal(size=(3, 3, 6, 6)) * 0.3
    looped, unrolled = _conv_rnn(False), _conv_rnn(True)
    np.testing.assert_allclose(looped(x, k, r), unrolled(x, k, r), rtol=1e-10, atol=1e-12)
    if jax.default_backend() == "cpu":
        assert "loop" in plans and "loop" not in plans[-2:]  # the unrolled ones are not
    loss_l = lambda *a: jnp.sum(looped(*a) ** 2)  # noqa: E731
    loss_u = lambda *a: jnp.sum(unrolled(*a) ** 2)  # noqa: E731
    for gl, gu in zip(jax.grad(loss_l, (0, 1, 2))(x, k, r), jax.grad(loss_u, (0, 1, 2))(x, k, r)):
        np.testing.assert_allclose(gl, gu, rtol=1e-9, atol=1e-12)
    check_grads(jax.jit(looped), (x, k, r), order=1, modes=["rev", "fwd"], rtol=1e-4)


def test_symbolic_rnn_records_loop_plans(monkeypatch):
    import jkb.conv as C
    plans = []
    real = C._conv_plan
    monkeypatch.setattr(C, "_conv_plan", lambda *a: plans.append(real(*a)) or plans[-1])
    x = K.placeholder((None, 3, 5, 5, 2))
    k = K.variable(np.random.default_rng(0).normal(size=(3, 3, 2, 4)) * 0.3)

    def step(x_t, states):
        h = K.relu(K.conv2d(x_t, k, padding="same")) + states[0]
        return h, [h]

    h0 = K.zeros((2, 5, 5, 4))
    _, out, _ = K.rnn(step, x, [h0])
    f = K.function([x], [out, K.gradients(K.sum(out), [k])[0]])
    xv = np.random.default_rng(1).normal(size=(2, 3, 5, 5, 2)).astype("float32")
    got, gk = f([xv])
    if jax.default_backend() == "cpu":
        assert plans and set(plans) == {"loop"}
    h = np.zeros((2, 5, 5, 4), np.float32)
    kv = K.get_value(k)
    for t in range(3):
        h = np.maximum(np.asarray(jax.lax.conv_general_dilated(
            xv[:, t], kv, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision="highest")), 0) + h
        np.testing.assert_allclose(got[:, t], h, rtol=1e-4, atol=1e-5)
    assert np.isfinite(gk).all() and gk.shape == (3, 3, 2, 4)
