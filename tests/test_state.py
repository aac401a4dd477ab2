"""State: pure updates (also jitted), the session, get/set value, donation safety."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkb as K
from jkb import state as S
from jkb.core import _Tracer


def _state_with(*pairs):
    vs = [K.variable(v) for v in pairs]
    return K.get_session().state, vs


def test_pure_updates_return_new_state_and_leave_input():
    st, (x, y) = _state_with(np.ones(3), np.zeros((2, 2)))
    st2 = S.update(st, x, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(st[x], np.ones(3))
    np.testing.assert_array_equal(st2[x], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(st2[y], np.zeros((2, 2)))
    np.testing.assert_array_equal(S.update_add(st, x, 2.0)[x], 3 * np.ones(3))
    np.testing.assert_array_equal(S.update_sub(st, x, 2.0)[x], -np.ones(3))
    ma = S.moving_average_update(st, x, np.array([3.0, 5.0, 7.0]), 0.9)
    np.testing.assert_allclose(ma[x], np.ones(3) * 0.9 + np.array([3.0, 5.0, 7.0]) * 0.1,
                               rtol=1e-6)


def test_pure_updates_under_jit():
    st, (x,) = _state_with(np.ones(3))

    @jax.jit
    def step(state, v):
        state = S.update_add(state, x, v)
        return S.moving_average_update(state, x, v, 0.5)

    out = step(st, jnp.array([1.0, 2.0, 3.0], jnp.float32))
    np.testing.assert_allclose(out[x], ((1 + np.array([1, 2, 3.0])) + [1, 2, 3.0]) / 2)
    assert isinstance(out, S.State) and out[x].dtype == jnp.float32


def test_update_checks_shape_and_dtype():
    st, (x,) = _state_with(np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(2,\).*variable.*\(3,\)"):
        S.update(st, x, np.ones(2))
    i = K.variable(np.zeros(2), dtype="int32")
    st = K.get_session().state
    with pytest.raises(TypeError, match="float.*int32"):
        S.update(st, i, np.array([0.5, 1.5]))


def test_state_is_a_pytree():
    st, (x, y) = _state_with(np.ones(3), np.ones(2))
    leaves = jax.tree_util.tree_leaves(st)
    assert len(leaves) == 4  # two variables, key, step
    doubled = jax.tree_util.tree_map(lambda a: a * 2, st)
    np.testing.assert_array_equal(doubled[x], 2 * np.ones(3))


def test_get_set_value_roundtrip_and_dtype():
    v = K.variable(np.zeros((2, 3)), dtype="float64")
    K.set_value(v, np.arange(6).reshape(2, 3))
    got = K.get_value(v)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_array_equal(got, np.arange(6).reshape(2, 3))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        K.set_value(v, np.ones(4))
    K.batch_set_value([(v, 0)])  # a scalar is broadcast (metric resets do this)
    np.testing.assert_array_equal(K.get_value(v), np.zeros((2, 3)))
    assert K.batch_get_value([]) == []
    w = K.variable(1.0)
    a, b = K.batch_get_value([v, w])
    assert a.shape == (2, 3) and b == 1.0


def test_batch_set_value_is_all_or_nothing():
    a, b = K.variable(np.zeros(2)), K.variable(np.zeros(3))
    with pytest.raises(ValueError):
        K.batch_set_value([(a, np.ones(2)), (b, np.ones(5))])
    np.testing.assert_array_equal(K.get_value(a), np.zeros(2))


def test_variable_defaults_to_floatx_and_copies_value():
    src = np.arange(3)
    v = K.variable(src)
    assert K.dtype(v) == "float32"
    src[0] = 100
    assert K.get_value(v)[0] == 0
    K.set_floatx("float64")
    assert K.dtype(K.variable(1)) == "float64"
    assert K.dtype(K.variable(0, dtype="int64")) == "int64"
    assert K.dtype(K.variable([True, False], dtype="bool")) == "bool"


def test_creating_weights_compiles_nothing_per_shape():
    """Variables, constants, set_value and eager random draws put host data on the device
    without compiling (a model's set-up paid 5-10 ms per weight shape for it)."""
    compiles = []
    listener = lambda event, *a, **k: compiles.append(event)  # noqa: E731
    jax.monitoring.register_event_duration_secs_listener(listener)
    shapes = [(3, 3, 2, 7), (13,), (5, 11)]
    device = [jnp.ones(s, "float32") for s in shapes]
    try:
        compiles.clear()
        for shape, d in zip(shapes, device):
            v = K.variable(np.zeros(shape))  # float64 host data, cast on the host
            K.set_value(v, np.ones(shape))
            K.constant(2.0, shape=shape)
            K.variable(K.random_uniform(shape))  # unseeded eager draws come from the host
            K.variable(K.truncated_normal(shape, dtype="float64"))
            K.variable(d)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert [e for e in compiles if e == "/jax/core/compile/backend_compile_duration"] == []


def test_variable_from_a_device_array_owns_its_buffer():
    a = jnp.arange(4.0, dtype="float32")
    v = K.variable(a)
    f = K.function([], [], updates=[K.update_add(v, 1.0)])
    f([])
    f([])
    np.testing.assert_array_equal(np.asarray(a), [0, 1, 2, 3])
    np.testing.assert_array_equal(K.get_value(v), [2, 3, 4, 5])


def test_float64_is_really_float64():
    v = K.variable(np.array([1e-20]), dtype="float64")
    out = K.eval(v + 1.0)
    assert out.dtype == np.float64
    assert out[0] - 1.0 == 1e-20 or abs(out[0] - 1.0 - 1e-20) < 1e-30 or out[0] == 1.0
    x = K.variable(np.array([1.0 + 1e-12]), dtype="float64")
    assert K.eval(x - 1.0)[0] == pytest.approx(1e-12, rel=1e-3)


def test_values_handed_out_survive_donation():
    w = K.variable(np.ones((4, 4)))
    held = K.get_value(w)
    snap = K.get_session().state
    p = K.placeholder((4,))
    f = K.function([p], [w * 1], updates=[K.update_add(w, 1.0)])
    out1 = f([np.ones(4)])[0]
    for _ in range(3):
        f([np.ones(4)])
    np.testing.assert_array_equal(held, np.ones((4, 4)))
    np.testing.assert_array_equal(out1, np.ones((4, 4)))
    np.testing.assert_array_equal(np.asarray(snap[w]), np.ones((4, 4)))
    np.testing.assert_array_equal(K.get_value(w), 5 * np.ones((4, 4)))


def test_clear_session_drops_variables():
    v = K.variable(1.0)
    K.clear_session()
    with pytest.raises(ValueError, match="current session"):
        K.get_value(v)
    assert K.get_uid("x") == 1


def test_session_and_set_session():
    sess = K.get_session()
    assert K.get_session() is sess
    other = S.Session(seed=3)
    K.set_session(other)
    assert K.get_session() is other
    with pytest.raises(TypeError):
        K.set_session(object())
    assert K.get_graph() is other
    assert K.manual_variable_initialization(True) is None


def test_v1_variable_initialization_keeps_values():
    # Variables hold their value from creation, so the TF1 initializer call changes nothing.
    w = K.variable(np.arange(3.0))
    f = K.function([], [w * 2])
    assert K.v1_variable_initialization() is None
    np.testing.assert_array_equal(K.get_value(w), np.arange(3.0))
    np.testing.assert_array_equal(f([])[0], 2 * np.arange(3.0))


@pytest.mark.parametrize("shape", [1, (2, 3), [4], (), np.array([2, 2])])
def test_zeros_ones_eye_are_variables(shape):
    z, o = K.zeros(shape), K.ones(shape, dtype="int32")
    want = tuple(np.asarray(shape).reshape(-1).tolist())
    assert K.is_variable(z) and K.int_shape(z) == want
    np.testing.assert_array_equal(K.get_value(z), np.zeros(want))
    np.testing.assert_array_equal(K.get_value(o), np.ones(want, np.int32))
    assert K.dtype(z) == "float32" and K.dtype(o) == "int32"
    K.eval(K.update_add(z, 1.0))  # updatable, as optimizer slots need
    np.testing.assert_array_equal(K.get_value(z), np.ones(want))


def test_eye_and_like_ops():
    np.testing.assert_array_equal(K.get_value(K.eye(3)), np.eye(3))
    np.testing.assert_array_equal(K.get_value(K.eye((2, 4), dtype="float64")), np.eye(2, 4))
    x = K.placeholder((None, 3), dtype="int32")
    z = K.zeros_like(x)
    assert K.dtype(z) == "int32" and z.shape == (None, 3)  # x's dtype (test_fidelity.py)
    got = K.function([x], [z, K.ones_like(x, dtype="int64")])([np.ones((2, 3))])
    np.testing.assert_array_equal(got[0], np.zeros((2, 3)))
    assert got[1].dtype == np.int64 and got[1].sum() == 6
    np.testing.assert_array_equal(K.zeros_like(np.ones(2)), np.zeros(2))


def test_constant():
    c = K.constant([1, 2, 3])
    assert K.dtype(c) == "float32" and K.is_tensor(c)
    np.testing.assert_array_equal(K.eval(c), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(K.eval(K.constant(2.0, shape=(2, 2))), 2 * np.ones((2, 2)))
    np.testing.assert_array_equal(K.eval(K.constant(np.arange(4), shape=(2, 2), dtype="int32")),
                                  np.arange(4).reshape(2, 2))
    with pytest.raises(ValueError, match="reshape"):
        K.constant(np.arange(3), shape=(2, 2))
    v = K.variable(K.constant([1.0, 2.0]) * 2)  # variables materialize tensors
    np.testing.assert_array_equal(K.get_value(v), [2.0, 4.0])


def test_tracers_never_enter_the_session():
    v = K.variable(np.ones(2))

    @jax.jit
    def bad_set(a):
        K.set_value(v, a)
        return a

    @jax.jit
    def bad_var(a):
        return K.variable(a) * 1

    with pytest.raises(TypeError, match="traced value"):
        bad_set(jnp.zeros(2))
    with pytest.raises(TypeError, match="traced value"):
        bad_var(jnp.zeros(2))
    np.testing.assert_array_equal(K.get_value(v), np.ones(2))
    assert all(not isinstance(a, _Tracer)
               for a in K.get_session()._state.values.values())


# ----------------------------------------------------------------------------- State API


def test_state_key_paths_carry_variable_names():
    w = K.variable(np.ones((2, 2)), name="dense/kernel")
    K.variable(np.zeros(2), name="dup")
    K.variable(np.zeros(3), name="dup")
    K.random_normal((2,), seed=1)
    paths = [jax.tree_util.keystr(p) for p, _ in
             jax.tree_util.tree_flatten_with_path(K.get_session().state)[0]]
    assert "['dense/kernel:0']" in paths and ".key" in paths and ".step" in paths
    assert sum(p.startswith("['dup:0#") for p in paths) == 2  # not unique: name#uid
    assert any(p.startswith("['draws/") for p in paths)
    st = K.get_session().state
    np.testing.assert_array_equal(st["dense/kernel"], np.ones((2, 2)))
    np.testing.assert_array_equal(st["dense/kernel:0"], st[w])
    with pytest.raises(KeyError, match="no variable labelled 'nope'"):
        st["nope"]


def test_trainable_and_replace():
    w = K.variable(np.ones((3, 2)), name="w")
    b = K.variable(np.zeros(2), name="b")
    K.variable(np.zeros(2), name="frozen").trainable = False
    K.variable(np.zeros(2, np.int32), dtype="int32", name="count")
    st = K.get_session().state
    params = st.trainable()
    assert sorted(params) == ["b:0", "w:0"]
    new = st.replace({"w:0": params["w:0"] * 2, b: np.ones(2, np.float64)})
    assert new[w].dtype == jnp.float32 and new[b].dtype == jnp.float32  # never widened
    np.testing.assert_array_equal(new[w], 2 * np.ones((3, 2)))
    np.testing.assert_array_equal(st[w], np.ones((3, 2)))  # the input is unchanged
    with pytest.raises(ValueError, match=r"shape \(5, 2\).*w:0.*\(3, 2\)"):
        st.replace({"w": np.ones((5, 2))})
    with pytest.raises(TypeError, match="count"):
        st.replace({"count": np.ones(2)})
    with pytest.raises(KeyError, match="nope"):
        st.replace({"nope": np.ones(2)})
    grads = jax.grad(lambda p: sum(jnp.sum(v ** 2) for v in p.values()))(params)
    assert set(grads) == set(params)


def test_session_state_assignment_is_checked():
    w = K.variable(np.ones((3, 2)), name="w")
    v = K.variable(np.ones(2), name="v")
    sess = K.get_session()
    st = sess.state
    bad = S.State({**st.values, w.uid: np.ones((5, 2))}, st.key, st.step, st.draws)
    with pytest.raises(ValueError, match=r"w:0.*\(3, 2\)"):
        sess.state = bad
    with pytest.raises(ValueError, match=r"lacks variables \['v:0'\]"):
        sess.state = S.State({w.uid: st[w]}, st.key, st.step)
    with pytest.raises(ValueError, match="does not know"):
        sess.state = S.State({**st.values, 10**9: np.ones(1)}, st.key, st.step)
    with pytest.raises(ValueError, match="key"):
        sess.state = S.State(st.values, np.zeros(3, np.uint32), st.step)
    np.testing.assert_array_equal(K.get_value(w), np.ones((3, 2)))  # nothing changed
    sess.state = st.replace({w: np.full((3, 2), 2.0, np.float64)})
    assert K.get_value(w).dtype == np.float32 and K.get_value(w)[0, 0] == 2.0
    assert K.get_value(v)[0] == 1.0


def test_pure_checks_its_state_and_keeps_dtypes():
    x = K.placeholder((None, 2))
    w = K.variable(np.ones((2, 3)), name="w")
    u = K.variable(np.zeros(3), name="u")
    f = K.function([x], [K.dot(x, w)], updates=[K.update_add(u, 1.0)])
    st = K.get_session().state
    with pytest.raises(ValueError, match=r"lacks variables \['w:0'\]"):
        f.pure(S.State({u.uid: st[u]}, st.key, st.step), [np.ones((1, 2))])
    with pytest.raises(ValueError, match=r"w:0"):
        f.pure(S.State({**st.values, w.uid: np.ones((4, 3))}, st.key, st.step),
               [np.ones((1, 2))])
    wide = st.replace({})
    wide.values[w.uid] = np.ones((2, 3), np.float64)  # as if from the user's own x64 code
    out, new = f.pure(wide, [np.ones((1, 2), np.float64)])
    assert out[0].dtype == jnp.float32 and new[u].dtype == jnp.float32
    with pytest.raises(TypeError, match="static_argnames='training'"):
        jax.jit(f.pure)(st, [np.ones((1, 2))], 1)
    out1, _ = jax.jit(f.pure, static_argnames="training")(st, [np.ones((1, 2))], training=1)
    np.testing.assert_allclose(out1[0], 2 * np.ones((1, 3)))


def test_pure_loop_with_optax_example():
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, os.path.join(root, "examples", "pure_optax.py")],
                         capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    losses = [float(line.split()[-1]) for line in out.stdout.splitlines()
              if line.startswith("epoch")]
    assert len(losses) == 8 and losses[-1] < 0.5 * losses[0]
    assert "accuracy 0.9" in out.stdout or "accuracy 1.0" in out.stdout
