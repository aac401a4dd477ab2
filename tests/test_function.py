"""K.function: compilation, updates, learning phase, feeds, failures, the pure form."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkb as K
from jkb.core import op

_sum = op(jnp.sum, name="sum_")


def test_update_forms_and_pre_call_reads():
    w = K.variable(np.ones(2))
    c = K.variable(0.0)
    x = K.placeholder((2,))
    f = K.function([x], [w * x], updates=[K.update(w, w + x), (c, c + 1.0)])
    out = f([np.array([1.0, 2.0])])[0]
    np.testing.assert_array_equal(out, [1.0, 2.0])  # outputs see the pre-call state
    np.testing.assert_array_equal(K.get_value(w), [2.0, 3.0])
    assert K.get_value(c) == 1.0
    f([np.array([1.0, 2.0])])
    np.testing.assert_array_equal(K.get_value(w), [3.0, 5.0])


def test_updates_are_simultaneous():
    a, b = K.variable(1.0), K.variable(2.0)
    f = K.function([], [], updates=[K.update(a, b), K.update(b, a)])
    f([])
    assert (K.get_value(a), K.get_value(b)) == (2.0, 1.0)


def test_two_updates_of_one_variable_last_wins():
    """Documented rule: both are computed from the pre-call state; the later one is kept."""
    v = K.variable(10.0)
    f = K.function([], [], updates=[K.update_add(v, 1.0), K.update_sub(v, 3.0)])
    f([])
    assert K.get_value(v) == 7.0


def test_update_add_sub_moving_average_symbolic():
    v = K.variable(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(K.eval(K.update_add(v, 2.0)), [3.0, 4.0])
    np.testing.assert_array_equal(K.get_value(v), [3.0, 4.0])  # K.eval commits
    K.eval(K.update_sub(v, 1.0))
    np.testing.assert_array_equal(K.get_value(v), [2.0, 3.0])
    K.eval(K.moving_average_update(v, np.array([4.0, 5.0]), 0.5))
    np.testing.assert_allclose(K.get_value(v), [3.0, 4.0])
    upd = K.update(v, np.zeros(2))
    np.testing.assert_array_equal(upd.eval(), [0.0, 0.0])
    np.testing.assert_array_equal(K.get_value(v), [0.0, 0.0])
    with pytest.raises(TypeError, match="variable"):
        K.update(K.placeholder((2,)), np.zeros(2))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        K.update(v, np.zeros(3))


def test_moving_average_update_formula_in_function():
    x = K.variable(np.array([1.0, -1.0]))
    p = K.placeholder((2,))
    f = K.function([p], [], updates=[K.moving_average_update(x, p, 0.8)])
    f([np.array([5.0, 5.0])])
    np.testing.assert_allclose(K.get_value(x), np.array([1.0, -1.0]) * 0.8 + 5.0 * 0.2,
                               rtol=1e-6)


def test_feeds_list_dict_scalars_and_casting():
    a = K.placeholder((None, 2))
    s = K.placeholder(())
    f = K.function([a, s], [a * s])
    np.testing.assert_array_equal(f([[[1, 2]], 3])[0], [[3.0, 6.0]])
    np.testing.assert_array_equal(f({a: np.ones((1, 2)), s: 2.0})[0], [[2.0, 2.0]])
    out = f([np.ones((1, 2), np.float64), np.float64(1)])[0]
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match=r"expected a value of shape \(None, 2\)"):
        f([np.ones((1, 3)), 1.0])
    with pytest.raises(ValueError, match="expected 2 input values"):
        f([np.ones((1, 2))])


def test_missing_placeholder_and_bad_kwargs():
    a, b = K.placeholder((2,)), K.placeholder((2,), name="forgotten")
    with pytest.raises(ValueError, match="forgotten"):
        K.function([a], [a + b])
    with pytest.raises(ValueError, match="unexpected keyword"):
        K.function([a], [a], fetches=[1])
    with pytest.raises(TypeError, match="update"):
        K.function([a], [a], updates=[a])


def test_failing_call_leaves_state_unchanged():
    w = K.variable(np.ones(3))
    x = K.placeholder((None,))
    f = K.function([x], [w * 2], updates=[K.update(w, w + K.sum(x))])
    with pytest.raises(ValueError):
        f([np.ones((2, 2))])  # wrong rank: refused before anything runs
    np.testing.assert_array_equal(K.get_value(w), np.ones(3))
    bad = K.function([x], [w + x], updates=[K.update_add(w, 1.0)])
    with pytest.raises(ValueError, match=r"add failed on inputs of shapes \[\(3,\).*\(5,\)"):
        bad([np.ones(5)])  # shape error while tracing
    np.testing.assert_array_equal(K.get_value(w), np.ones(3))
    f([np.ones(2)])
    np.testing.assert_array_equal(K.get_value(w), 3 * np.ones(3))


def test_fast_path_shape_errors_name_the_placeholder_and_change_nothing():
    # Arrays of the exact dtype skip the host-side checks; jit's trace checks the shape.
    w = K.variable(np.ones(3, np.float32))
    x = K.placeholder((None, 3), name="batch")
    f = K.function([x], [w * 2], updates=[K.update(w, w + K.sum(x))])
    for bad in (np.ones((2, 4), np.float32), np.ones((2, 3, 1), np.float32),
                np.ones(3, np.float32)):
        with pytest.raises(ValueError, match=r"batch.*\(None, 3\), got " + re.escape(
                str(bad.shape))):
            f([bad])
        np.testing.assert_array_equal(K.get_value(w), np.ones(3))
    f([np.ones((2, 3), np.float32)])
    np.testing.assert_array_equal(K.get_value(w), 7 * np.ones(3))
    assert f.trace_count == 1


def test_outputs_are_writable_copies():
    w = K.variable(np.ones(3, np.float32))
    x = K.placeholder((3,))
    f = K.function([x], [w, x, w + x], updates=[K.update_add(w, x)])
    xv = np.full(3, 2.0, np.float32)
    outs = f([xv])
    for o in outs:
        assert isinstance(o, np.ndarray) and o.flags.writeable
        o[...] = -1.0
    np.testing.assert_array_equal(xv, np.full(3, 2.0))
    np.testing.assert_array_equal(K.get_value(w), np.full(3, 3.0))
    np.testing.assert_array_equal(f([xv])[0], np.full(3, 3.0))  # reads see the old value


def test_learning_phase_anywhere_among_the_inputs():
    x, y = K.placeholder((None, 2)), K.placeholder((None, 2))
    out = K.in_train_phase(x - y, x + y)
    f = K.function([x, K.learning_phase(), y], [out])
    a, b = np.ones((1, 2), np.float32), np.full((1, 2), 3.0, np.float32)
    np.testing.assert_array_equal(f([a, 1, b])[0], a - b)
    np.testing.assert_array_equal(f((a, 0, b))[0], a + b)
    np.testing.assert_array_equal(f([a.tolist(), np.int64(1), b])[0], a - b)  # slow path
    assert f.trace_count == 2


def test_learning_phase_as_input_and_default():
    x = K.placeholder((None, 3))
    y = K.in_train_phase(x * 10.0, x)
    assert y._uses_learning_phase
    f = K.function([x, K.learning_phase()], [y])
    a = np.ones((2, 3))
    np.testing.assert_array_equal(f([a, 1])[0], 10 * a)
    np.testing.assert_array_equal(f([a, 0])[0], a)
    g = K.function([x], [y])  # not an input: defaults to test
    np.testing.assert_array_equal(g([a])[0], a)
    assert K.learning_phase() is K.learning_phase()
    np.testing.assert_array_equal(K.in_test_phase(x * 10.0, x, training=1).eval(
        feed_dict={x: a}), a)
    assert K.in_train_phase(lambda: 1.0, lambda: 2.0, training=0) == 2.0


def test_set_learning_phase():
    with pytest.raises(ValueError):
        K.set_learning_phase(2)
    K.set_learning_phase(1)
    assert K.learning_phase() == 1
    x = K.placeholder((2,))
    assert K.in_train_phase(x * 2, x) is not x
    K.clear_session()
    assert not isinstance(K.learning_phase(), int)


def test_test_mode_program_has_no_dropout():
    x = K.placeholder((None, 4))
    y = K.in_train_phase(K.dropout(x, 0.5), x)
    f = K.function([x, K.learning_phase()], [y])
    st = K.get_session()._state
    args = ((), (), (np.ones((2, 4), np.float32), None), f._consts, (st.key, st.step))
    test_jaxpr = str(jax.make_jaxpr(lambda *a: f._pure_flat(*a, training=0))(*args))
    train_jaxpr = str(jax.make_jaxpr(lambda *a: f._pure_flat(*a, training=1))(*args))
    assert "random_bits" not in test_jaxpr and "threefry" not in test_jaxpr
    assert "random_bits" in train_jaxpr or "threefry" in train_jaxpr


def test_is_metric_outputs_read_post_update_state():
    total = K.variable(0.0)
    x = K.placeholder(())
    before = total * 1.0
    after = total * 1.0
    after._is_metric = True
    f = K.function([x], [before, after], updates=[K.update_add(total, x)])
    b, a = f([2.0])
    assert (b, a) == (0.0, 2.0)
    b, a = f([3.0])
    assert (b, a) == (2.0, 5.0)


def test_retrace_counts():
    w = K.variable(np.ones((3, 2)))
    lr = K.variable(0.1)
    x = K.placeholder((None, 3))
    loss = _sum(K.dot(x, w))
    f = K.function([x], [loss], updates=[K.update_sub(w, lr * K.gradients(loss, [w])[0])])
    for _ in range(3):
        f([np.ones((4, 3))])
    assert f.trace_count == 1
    f([np.ones((7, 3))])  # new batch size: one more trace
    f([np.ones((7, 3))])
    f([np.ones((4, 3))])
    assert f.trace_count == 2
    K.set_value(lr, 0.5)  # a variable's new value is data, never a retrace
    f([np.ones((4, 3))])
    assert f.trace_count == 2


def test_none_batch_compiled_for_two_sizes():
    x = K.placeholder((None, 2))
    f = K.function([x], [K.sum(x, axis=1)])
    np.testing.assert_array_equal(f([np.ones((3, 2))])[0], [2, 2, 2])
    np.testing.assert_array_equal(f([np.ones((5, 2))])[0], [2] * 5)
    assert f.trace_count == 2


def test_pure_form_under_jit_and_grad():
    w = K.variable(np.array([1.0, 2.0]))
    x = K.placeholder((2,))
    out = _sum(w * x)
    f = K.function([x], [out], updates=[K.update_add(w, x)])
    state = K.get_session().state
    (o,), new_state = jax.jit(f.pure)(state, [jnp.array([1.0, 1.0], jnp.float32)])
    assert float(o) == 3.0
    np.testing.assert_array_equal(new_state[w], [2.0, 3.0])
    np.testing.assert_array_equal(K.get_value(w), [1.0, 2.0])  # session untouched

    def loss(xv):
        (o,), _ = f.pure(state, [xv])
        return o

    np.testing.assert_allclose(jax.grad(loss)(jnp.array([1.0, 1.0], jnp.float32)), [1.0, 2.0])
    batched = jax.vmap(lambda xv: f.pure(state, [xv])[0][0])(jnp.ones((4, 2), jnp.float32))
    np.testing.assert_allclose(batched, 3.0 * np.ones(4))


def test_single_output_and_constant_outputs():
    x = K.placeholder((2,))
    f = K.function([x], x * 2)
    np.testing.assert_array_equal(f([np.ones(2)]), [2.0, 2.0])
    g = K.function([x], [x, np.float32(3.0)])
    assert g([np.ones(2)])[1] == 3.0


def test_outputs_are_numpy_copies():
    v = K.variable(np.ones(3))
    f = K.function([], [v], updates=[K.update_add(v, 1.0)])
    first = f([])[0]
    assert isinstance(first, np.ndarray)
    f([])
    np.testing.assert_array_equal(first, np.ones(3))


def test_eval_is_compiled_and_cached_after_first_use():
    v = K.variable(np.ones(2))
    t = v * 2
    K.eval(t)
    K.eval(t)
    K.eval(t)
    fn = K.get_session().eval_cache[(t, ())]
    assert fn._compiled and fn.trace_count == 2  # one eager run, then one compilation


def test_pure_state_can_be_written_back_to_the_session():
    w = K.variable(np.zeros(2))
    x = K.placeholder((2,))
    f = K.function([x], [w + x], updates=[K.update_add(w, x)])
    sess = K.get_session()
    state = sess.state
    for _ in range(3):
        _, state = jax.jit(f.pure)(state, [jnp.ones(2, jnp.float32)])
    sess.state = state
    np.testing.assert_array_equal(K.get_value(w), [3.0, 3.0])
    np.testing.assert_array_equal(f([np.ones(2)])[0], [4.0, 4.0])  # reads the written state
    # The session advances its own copy in place; the State given to it stays as it was.
    np.testing.assert_array_equal(state[w], [3.0, 3.0])
    before = sess.state
    f([np.ones(2)])
    np.testing.assert_array_equal(before[w], [4.0, 4.0])
    np.testing.assert_array_equal(K.get_value(w), [5.0, 5.0])


def test_function_after_clear_session_fails_clearly():
    w = K.variable(1.0)
    f = K.function([], [w * 2])
    K.clear_session()
    with pytest.raises(ValueError, match="current session"):
        f([])
