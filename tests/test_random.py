"""Random ops: fresh draws per call, reproducible seeds, eager use, dropout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkb as K


@pytest.mark.parametrize("make", [
    lambda s: K.random_normal((200,), 1.0, 2.0, seed=s),
    lambda s: K.random_uniform((200,), -1.0, 3.0, seed=s),
    lambda s: K.random_binomial((200,), 0.3, seed=s),
    lambda s: K.truncated_normal((200,), 0.0, 1.0, seed=s),
])
def test_each_call_draws_fresh_numbers(make):
    t = make(None)
    a, b = K.eval(t), K.eval(t)
    assert a.shape == (200,) and a.dtype == np.float32
    assert not np.array_equal(a, b)
    f = K.function([], [t])
    c, d = f([])[0], f([])[0]
    assert not np.array_equal(c, d)


def test_distribution_parameters():
    n = K.eval(K.random_normal((20000,), 1.0, 2.0))
    assert abs(n.mean() - 1.0) < 0.1 and abs(n.std() - 2.0) < 0.1
    u = K.eval(K.random_uniform((20000,), -1.0, 3.0))
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.1
    b = K.eval(K.random_binomial((20000,), 0.3))
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 0.02
    t = K.eval(K.truncated_normal((20000,), 0.0, 1.0))
    assert np.abs(t).max() <= 2.0 and 0.8 < t.std() < 0.9  # truncation at 2 sigma
    assert K.eval(K.random_normal((3,), dtype="float64")).dtype == np.float64


def test_seed_reproduces_a_whole_run():
    def run():
        K.clear_session()
        K.set_random_seed(1234)
        v = K.random_uniform_variable((3, 3), 0.0, 1.0)
        x = K.placeholder((None, 3))
        f = K.function([x], [K.dropout(x, 0.5), K.random_normal((2,))])
        return [K.get_value(v)] + f([np.ones((4, 3))]) + f([np.ones((4, 3))])

    first, second = run(), run()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], first[3])


def test_explicit_seed_is_independent_of_global_seed():
    K.set_random_seed(1)
    a = K.get_value(K.random_normal_variable((4,), 0.0, 1.0, seed=7))
    K.clear_session()
    K.set_random_seed(2)
    b = K.get_value(K.random_normal_variable((4,), 0.0, 1.0, seed=7))
    np.testing.assert_array_equal(a, b)


def test_numpy_global_seed_reproduces_unseeded_session():
    def draw():
        K.clear_session()
        np.random.seed(5)
        return K.eval(K.random_normal((5,)))

    np.testing.assert_array_equal(draw(), draw())


def test_random_variables():
    v = K.random_normal_variable((50, 40), 0.5, 0.1, dtype="float64", name="rv")
    assert K.is_variable(v) and K.dtype(v) == "float64" and "rv" in v.name
    val = K.get_value(v)
    assert abs(val.mean() - 0.5) < 0.02
    u = K.random_uniform_variable((10,), 2.0, 3.0)
    assert (K.get_value(u) >= 2.0).all() and (K.get_value(u) < 3.0).all()


def test_random_shape_from_tensor():
    x = K.placeholder((None, 3))
    r = K.random_uniform(K.shape(x))
    assert r.shape == (None, 3)
    assert K.function([x], [r])([np.ones((5, 3))])[0].shape == (5, 3)


def test_dropout_scaling_and_noise_shape():
    x = K.placeholder((None, 6))
    d = K.dropout(x, 0.25)
    out = K.function([x], [d])([np.ones((400, 6))])[0]
    assert set(np.unique(out)) <= {0.0, np.float32(1.0) / np.float32(0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.04
    shared = K.dropout(x, 0.5, noise_shape=(None, 1))
    out = K.function([x], [shared])([np.ones((50, 6))])[0]
    assert all(len(set(row)) == 1 for row in out)  # one draw per row
    with pytest.raises(ValueError, match="level"):
        K.dropout(x, 1.0)


def test_dropout_on_concrete_arrays_and_seed():
    a = K.dropout(jnp.ones((100,)), 0.5)
    b = K.dropout(jnp.ones((100,)), 0.5)
    assert not np.array_equal(a, b) and set(np.unique(np.asarray(a))) <= {0.0, 2.0}
    out = K.dropout(np.ones((3, 3)), 0.5, seed=3)
    assert out.shape == (3, 3)


def test_step_advances_only_for_programs_with_random_ops():
    x = K.placeholder((2,))
    plain = K.function([x], [x * 2])
    noisy = K.function([x], [K.dropout(x, 0.5)])
    step0 = int(K.get_session()._state.step)
    plain([np.ones(2)])
    assert int(K.get_session()._state.step) == step0
    noisy([np.ones(2)])
    noisy([np.ones(2)])
    assert int(K.get_session()._state.step) == step0 + 2


# ----------------------------------------------------------------------------- seeded ops
# TF1/Theano semantics: an op's draws depend only on its seed, its kind and how many times
# it has drawn.


def test_seeded_ops_with_one_seed_draw_the_same_values_in_every_mode():
    a, b = K.random_normal((3, 4), seed=11), K.random_normal((3, 4), seed=11)
    c = K.random_normal((3, 4), seed=11)
    K.eval(K.random_normal((5,)))  # other draws in between change nothing
    K.function([], [K.random_uniform((2,))])([])
    first_a = K.eval(a)
    first_b = K.function([], [b])([])[0]
    np.testing.assert_array_equal(first_a, first_b)
    # Each further run continues that op's own sequence, the same for every op.
    seq_a = [first_a] + [K.eval(a) for _ in range(3)]
    f = K.function([], [b])
    seq_b = [first_b] + [f([])[0] for _ in range(3)]
    seq_c = [K.eval(c) for _ in range(4)]
    for x, y, z in zip(seq_a, seq_b, seq_c):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert not np.array_equal(seq_a[0], seq_a[1])
    assert not np.array_equal(K.eval(K.random_normal((3, 4), seed=12)), seq_a[0])


def test_random_variables_with_one_seed_are_equal():
    for make in (K.random_uniform_variable, K.random_normal_variable):
        v1, v2 = make((4, 3), 0, 1, seed=3), make((4, 3), 0, 1, seed=3)
        np.testing.assert_array_equal(K.get_value(v1), K.get_value(v2))
        assert not np.array_equal(K.get_value(v1), K.get_value(make((4, 3), 0, 1, seed=4)))
        K.set_random_seed(99)  # the global seed does not enter a seeded op
        np.testing.assert_array_equal(K.get_value(make((4, 3), 0, 1, seed=3)), K.get_value(v1))


def test_seeded_counters_live_in_the_state_and_survive_a_restore():
    x = K.placeholder((None, 5))
    d = K.dropout(x, 0.5, seed=7)
    f = K.function([x], [d])
    ones = np.ones((6, 5), np.float32)
    f([ones])
    saved = K.get_session().state  # what a checkpoint holds
    assert len(saved.draws) == 1 and int(next(iter(saved.draws.values()))) == 1
    later = [f([ones])[0] for _ in range(2)]
    K.get_session().state = saved
    np.testing.assert_array_equal([f([ones])[0] for _ in range(2)], later)
    # the pure form advances the same counter and leaves the session alone
    st = K.get_session().state
    (out,), st2 = f.pure(st, [ones])
    assert int(next(iter(st2.draws.values()))) == int(next(iter(st.draws.values()))) + 1
    np.testing.assert_array_equal(out, f([ones])[0])


def test_unseeded_and_seeded_streams_are_independent():
    x = K.placeholder((3,))
    f = K.function([x], [K.dropout(x, 0.5, seed=1)])
    step = int(K.get_session()._state.step)
    f([np.ones(3, np.float32)])
    assert int(K.get_session()._state.step) == step  # a seeded-only program keeps the step


def test_seeded_dropout_on_arrays_is_the_first_draw_of_that_op():
    x = np.ones((8, 8), np.float32)
    a, b = K.dropout(x, 0.5, seed=5), K.dropout(x, 0.5, seed=5)
    np.testing.assert_array_equal(a, b)
    p = K.placeholder((8, 8))
    np.testing.assert_array_equal(K.function([p], [K.dropout(p, 0.5, seed=5)])([x])[0], a)
    assert not np.array_equal(K.dropout(x, 0.5, seed=6), a)


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_random_uniform_integer_dtype(dtype):
    for t in (K.random_uniform((4000,), 2, 7, dtype=dtype),
              K.random_uniform((4000,), 2, 7, dtype=dtype, seed=1)):
        for v in (K.eval(t), K.function([], [t])([])[0]):
            assert v.dtype == np.dtype(dtype)
            assert set(np.unique(v)) == {2, 3, 4, 5, 6}  # [minval, maxval), all drawn
    v = np.asarray(K.random_uniform((4000,), -3, 3, dtype="int32", seed=jax.random.key(0)))
    assert v.dtype == np.int32 and set(np.unique(v)) == set(range(-3, 3))
    with pytest.raises(TypeError, match="float"):
        K.random_normal((2,), dtype="int32")


# ----------------------------------------------------------------------------- JAX keys


@pytest.mark.parametrize("make_key", [jax.random.key, jax.random.PRNGKey],
                         ids=["typed", "raw"])
@pytest.mark.parametrize("op", [
    lambda k: K.random_normal((50,), 1.0, 2.0, seed=k),
    lambda k: K.random_uniform((50,), -1.0, 3.0, seed=k),
    lambda k: K.random_binomial((50,), 0.3, seed=k),
    lambda k: K.truncated_normal((50,), seed=k),
    lambda k: K.dropout(jnp.ones((50,), jnp.float32), 0.4, seed=k),
], ids=["normal", "uniform", "binomial", "truncated", "dropout"])
def test_keyed_calls_are_pure_jax(make_key, op):
    st = K.get_session().state
    a, b, c = op(make_key(0)), op(make_key(0)), op(make_key(1))
    assert isinstance(a, jax.Array) and a.dtype == jnp.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # traceable, same draws (XLA may fuse ``z * stddev + mean`` into one rounding)
    np.testing.assert_allclose(jax.jit(op)(make_key(0)), a, rtol=1e-5, atol=1e-6)
    batched = jax.vmap(op)(jax.random.split(make_key(0), 3))
    assert batched.shape == (3, 50) and not np.array_equal(batched[0], batched[1])
    after = K.get_session()._state
    assert int(after.step) == int(st.step) and len(after.draws) == len(st.draws)


def test_keyed_distribution_parameters():
    k = jax.random.key(3)
    n = np.asarray(K.random_normal((20000,), 1.0, 2.0, seed=k))
    assert abs(n.mean() - 1.0) < 0.1 and abs(n.std() - 2.0) < 0.1
    t = np.asarray(K.truncated_normal((20000,), 0.0, 1.0, seed=k))
    assert np.abs(t).max() <= 2.0
    d = np.asarray(K.dropout(jnp.ones((20000,), jnp.float32), 0.25, seed=k))
    assert abs((d == 0).mean() - 0.25) < 0.02


def test_bad_seed_is_refused():
    for bad in (1.5, "3", np.ones(3, np.float32), jnp.ones((2,), jnp.int32)):
        with pytest.raises(TypeError, match="seed="):
            K.random_normal((2,), seed=bad)
        with pytest.raises(TypeError, match="seed="):
            K.dropout(np.ones(2, np.float32), 0.5, seed=bad)


def test_in_train_phase_with_plain_and_traced_training():
    a, b = jnp.ones(3), jnp.zeros(3)
    assert isinstance(K.in_train_phase(a, b, training=1), jax.Array)
    np.testing.assert_array_equal(K.in_train_phase(a, b, training=np.bool_(False)), b)
    np.testing.assert_array_equal(K.in_train_phase(lambda: a, lambda: b, training=True), a)
    f = jax.jit(lambda t: K.in_train_phase(lambda: a * 2, lambda: b, training=t))
    np.testing.assert_array_equal(f(1), 2 * a)
    np.testing.assert_array_equal(f(0), b)
    g = jax.jit(lambda t: K.in_test_phase(a, b, training=t))  # plain values: a select
    np.testing.assert_array_equal(g(True), b)
    with pytest.raises(ValueError, match="scalar"):
        jax.jit(lambda t: K.in_train_phase(a, b, training=t))(jnp.ones(2))


def test_host_key_derivation_is_jax_bit_for_bit():
    """Eager draws derive their keys with NumPy (jkb._threefry): the same bits as
    jax.random's default generator, for random keys and data and the session's seeds."""
    from jkb import _threefry
    assert _threefry.usable()
    rng = np.random.default_rng(7)
    for _ in range(200):
        key = rng.integers(0, 2**32, 2, dtype=np.uint64).astype(np.uint32)
        data = int(rng.integers(0, 2**32))
        want = jax.random.key_data(jax.random.fold_in(jax.random.wrap_key_data(key), data))
        np.testing.assert_array_equal(_threefry.fold_in(key, data), want)
    for seed in (0, 1, 1234, 2**31 - 1):
        np.testing.assert_array_equal(_threefry.seed_key(seed),
                                      jax.random.key_data(jax.random.key(seed)))
    assert _threefry.seed_key(-1) is None and _threefry.seed_key(2**31) is None


def test_a_new_process_builds_weights_without_compiling():
    """Creating the session and a model's weights (unseeded initializer draws) compiles no
    XLA program: keys are derived on the host and values are placed by device_put."""
    import subprocess
    import sys
    code = (
        "import jax, numpy as np\n"
        "events = []\n"
        "jax.monitoring.register_event_duration_secs_listener(\n"
        "    lambda e, *a, **k: events.append(e))\n"
        "import jkb as K\n"
        "K.set_random_seed(5)\n"
        "for shape in [(3, 3, 3, 8), (8,), (40, 10)]:\n"
        "    K.variable(K.random_uniform(shape, -0.1, 0.1))\n"
        "    K.variable(K.truncated_normal(shape))\n"
        "    K.variable(np.zeros(shape))\n"
        "print(sum(e == '/jax/core/compile/backend_compile_duration' for e in events))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"
