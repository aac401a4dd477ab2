"""Random ops: fresh draws per call, reproducible seeds, eager use, dropout."""

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
