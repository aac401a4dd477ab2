"""Control flow: switch, rnn, map_fn, foldl/foldr, print_tensor."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from opcheck import check

import jkb as K
from jkb.core import Tensor, op

# Lifted helpers used inside step functions: they run on arrays, tracers and symbolic
# tensors alike, like the K ops Keras' cells call (kept local so this file depends only on
# the op machinery and the functions under test).
_dot = op(jnp.dot, name="t_dot")
_tanh = op(jnp.tanh, name="t_tanh")
_sum = op(jnp.sum, name="t_sum")

RNG = np.random.default_rng(1234)


def _rand(*shape, dtype="float32"):
    return RNG.normal(size=shape).astype(dtype)


def _mask(batch, time, p=0.35):
    m = (RNG.uniform(size=(batch, time)) > p).astype("float32")
    m[0, 0] = 0.0  # a masked first step: the output must be zeros there
    m[-1, :] = 1.0
    return m


# ----------------------------------------------------------------------------- references


def np_rnn(step, x, states, mask=None, constants=(), go_backwards=False):
    """Keras 2.3.1 K.rnn semantics, one step at a time in NumPy."""
    states = list(states)
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    outs, prev = [], None
    for t in order:
        out, new = step(x[:, t], states + list(constants))
        if mask is not None:
            m = mask[:, t].astype(bool)

            def keep(a, b, m=m):
                return np.where(m.reshape(m.shape + (1,) * (a.ndim - 1)), a, b)

            prev = np.zeros_like(out) if prev is None else prev
            out = keep(out, prev)
            new = [keep(n, s) for n, s in zip(new, states)]
        outs.append(out)
        prev, states = out, list(new)
    return outs[-1], np.stack(outs, 1), states


def simple_step(W, U, dot, tanh):
    """A SimpleRNN cell: h = tanh(x W + h U)."""
    def step(x_t, states):
        h = tanh(dot(x_t, W) + dot(states[0], U))
        return h, [h]
    return step


def lstm_like_step(W, dot, tanh):
    """Two states (h, c) and a constant added to the pre-activation."""
    def step(x_t, states):
        h, c, bias = states
        z = dot(x_t, W) + h + bias
        c2 = c * 0.5 + tanh(z)
        h2 = tanh(c2) * 0.9
        return h2 * 2.0, [h2, c2]
    return step


# ----------------------------------------------------------------------------- switch


@pytest.mark.parametrize("cond", [True, False, np.bool_(True), np.array(0.0), 1])
def test_switch_concrete_scalar(cond):
    a, b = _rand(2, 3), _rand(2, 3)
    got = K.switch(cond, a, b)
    assert isinstance(got, jax.Array)
    np.testing.assert_array_equal(got, a if bool(cond) else b)


def test_switch_concrete_scalar_calls_only_the_chosen_branch():
    calls = []

    def then():
        calls.append("then")
        return np.ones(3)

    def other():
        calls.append("else")
        return np.zeros(3)

    np.testing.assert_array_equal(K.switch(False, then, other), np.zeros(3))
    assert calls == ["else"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("cond", [True, False])
def test_switch_scalar_condition_three_modes(cond, dtype):
    a, b = _rand(3, 4, dtype=dtype), _rand(3, 4, dtype=dtype) + 5
    check(lambda c, x, y: K.switch(c, x, y), lambda c, x, y: x if c else y,
          np.array(cond), a, b, none=[None, "batch", "batch"])


def test_switch_symbolic_scalar_condition_with_callables():
    c = K.placeholder((), dtype="bool")
    x = K.placeholder((None, 2))
    calls = []

    def then():
        calls.append(1)
        return x * 2.0

    out = K.switch(c, then, lambda: x - 1.0)
    assert calls == [1] and isinstance(out, Tensor)
    assert tuple(out.shape) == (None, 2)
    f = K.function([c, x], [out])
    v = _rand(3, 2)
    np.testing.assert_allclose(f([True, v])[0], v * 2.0, rtol=1e-6)
    np.testing.assert_allclose(f([False, v])[0], v - 1.0, rtol=1e-6)


def test_switch_on_learning_phase_evaluates_one_branch(capfd):
    x = K.placeholder((None, 2))
    then = K.print_tensor(x * 3.0, "TRAINBRANCH")
    out = K.switch(K.learning_phase(), then, x)
    f = K.function([x, K.learning_phase()], [out])
    v = _rand(2, 2)
    np.testing.assert_allclose(f([v, 0])[0], v)
    jax.effects_barrier()
    assert "TRAINBRANCH" not in capfd.readouterr().out
    np.testing.assert_allclose(f([v, 1])[0], v * 3.0, rtol=1e-6)
    jax.effects_barrier()
    assert "TRAINBRANCH" in capfd.readouterr().out


def test_switch_traced_scalar_condition_uses_cond():
    calls = []

    def then():
        calls.append(1)
        return jnp.ones(3)

    f = jax.jit(lambda c: K.switch(c, then, lambda: jnp.zeros(3)))
    np.testing.assert_array_equal(f(True), np.ones(3))
    np.testing.assert_array_equal(f(False), np.zeros(3))


def test_switch_traced_scalar_condition_broadcasts_different_shapes():
    f = jax.jit(lambda c, x: K.switch(c, x, 0.0))
    np.testing.assert_array_equal(f(True, jnp.ones(3)), np.ones(3))
    np.testing.assert_array_equal(f(False, jnp.ones(3)), np.zeros(3))


def _np_switch(c, a, b):
    c = c.astype(bool)
    rank = max(a.ndim, b.ndim)
    return np.where(c.reshape(c.shape + (1,) * (rank - c.ndim)), a, b)


@pytest.mark.parametrize("cshape,eshape", [
    ((4,), (4,)), ((4,), (4, 3)), ((4,), (4, 3, 2)), ((4, 3), (4, 3, 2)),
    ((4, 1), (4, 3)), ((1,), (1, 5)), ((2, 3, 2), (2, 3, 2)),
])
@pytest.mark.parametrize("dtype", ["float32", "int32", "float64"])
def test_switch_elementwise_trailing_axes(cshape, eshape, dtype):
    c = (RNG.uniform(size=cshape) > 0.5).astype("float32") * 1.5  # non-bool condition
    a, b = _rand(*eshape, dtype=dtype), _rand(*eshape, dtype=dtype) - 3
    check(lambda c, x, y: K.switch(c, x, y), _np_switch, c, a, b)


def test_switch_bool_condition_and_all_unknown_dims():
    c = RNG.uniform(size=(3, 2)) > 0.5
    a, b = _rand(3, 2, 4), _rand(3, 2, 4)
    check(lambda c, x, y: K.switch(c, x, y), _np_switch, c, a, b, none="all")


def test_switch_python_scalar_branch_keeps_dtype():
    c = np.array([True, False, True])
    x = _rand(3, 2)
    check(lambda c, x: K.switch(c, x, 0.0), lambda c, x: _np_switch(c, x, np.zeros_like(x)),
          c, x)


def test_switch_elementwise_callables():
    x = K.placeholder((None, 3))
    out = K.switch(x > 0.0, lambda: x * 2.0, lambda: x * 0.0)
    v = _rand(4, 3)
    np.testing.assert_allclose(K.function([x], [out])([v])[0], np.where(v > 0, 2 * v, 0.0),
                               rtol=1e-6)


def test_switch_gradients():
    c = np.array([True, False, True, False])
    a, b = _rand(4, 3, dtype="float64"), _rand(4, 3, dtype="float64")
    check_grads(jax.jit(lambda a, b: K.switch(c, a, b) * a), (a, b), order=2, modes=["rev"])
    check_grads(jax.jit(lambda a, b: K.switch(True, a * b, b)), (a, b), order=2,
                modes=["rev"])


def test_switch_condition_rank_too_high():
    with pytest.raises(ValueError, match=r"switch: .*condition.shape=\(2, 3\)"):
        K.switch(np.ones((2, 3), bool), np.ones(2), np.zeros(2))
    with pytest.raises(ValueError, match="switch"):
        K.switch(K.placeholder((None, 3, 2)), K.placeholder((None, 3)), 1.0)


def test_switch_returns_a_new_tensor():
    v = K.variable(_rand(2))
    out = K.switch(True, v, v * 2)
    assert out is not v and not K.is_variable(out)
    np.testing.assert_allclose(K.eval(out), K.eval(v))


# ----------------------------------------------------------------------------- rnn: values


def _simple_case(dtype="float32", batch=3, time=5, d=4, units=6):
    x = _rand(batch, time, d, dtype=dtype)
    h0 = _rand(batch, units, dtype=dtype) * 0.1
    W = _rand(d, units, dtype=dtype) * 0.5
    U = _rand(units, units, dtype=dtype) * 0.3
    return x, h0, W, U


@pytest.mark.parametrize("unroll", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_simple_three_modes(unroll, go_backwards, masked):
    x, h0, W, U = _simple_case()
    m = _mask(3, 5)

    def fn(x, h0, W, U, m):
        return K.rnn(simple_step(W, U, _dot, _tanh), x, [h0], go_backwards=go_backwards,
                     mask=m if masked else None, unroll=unroll)

    def ref(x, h0, W, U, m):
        return np_rnn(simple_step(W, U, np.dot, np.tanh), x, [h0],
                      mask=m if masked else None, go_backwards=go_backwards)

    check(fn, ref, x, h0, W, U, m, rtol=1e-5, atol=1e-5,
          none=["batch", "batch", None, None, "batch"])


@pytest.mark.parametrize("go_backwards", [False, True])
def test_rnn_unknown_time_dim(go_backwards):
    x, h0, W, U = _simple_case(time=4)
    m = _mask(3, 4)

    def fn(x, h0, W, U, m):
        return K.rnn(simple_step(W, U, _dot, _tanh), x, [h0], mask=m,
                     go_backwards=go_backwards)

    def ref(x, h0, W, U, m):
        return np_rnn(simple_step(W, U, np.dot, np.tanh), x, [h0], mask=m,
                      go_backwards=go_backwards)

    check(fn, ref, x, h0, W, U, m, rtol=1e-5, atol=1e-5,
          none=[(None, None, 4), "batch", None, None, (None, None)])


def test_rnn_unknown_time_runs_several_lengths():
    _, h0, W, U = _simple_case()
    kW, kU = K.variable(W), K.variable(U)
    xp, hp = K.placeholder((None, None, 4)), K.placeholder((None, 6))
    last, outs, states = K.rnn(simple_step(kW, kU, _dot, _tanh), xp, [hp])
    assert tuple(last.shape) == (None, 6) and tuple(outs.shape) == (None, None, 6)
    assert tuple(states[0].shape) == (None, 6)
    f = K.function([xp, hp], [last, outs, states[0]])
    for time in (2, 7):
        x = _rand(3, time, 4)
        want = np_rnn(simple_step(W, U, np.dot, np.tanh), x, [h0])
        got = f([x, h0])
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got[2], want[2][0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("unroll", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_two_states_and_constants(unroll, masked):
    x = _rand(2, 4, 3, dtype="float64")
    h0, c0 = _rand(2, 5, dtype="float64"), _rand(2, 5, dtype="float64")
    W = _rand(3, 5, dtype="float64")
    bias = _rand(2, 5, dtype="float64")
    m = _mask(2, 4)

    def fn(x, h0, c0, W, bias, m):
        return K.rnn(lstm_like_step(W, _dot, _tanh), x, [h0, c0], constants=[bias],
                     mask=m if masked else None, unroll=unroll, go_backwards=True)

    def ref(x, h0, c0, W, bias, m):
        return np_rnn(lstm_like_step(W, np.dot, np.tanh), x, [h0, c0], constants=[bias],
                      mask=m if masked else None, go_backwards=True)

    check(fn, ref, x, h0, c0, W, bias, m, rtol=1e-10, atol=1e-10,
          none=["batch", "batch", "batch", None, "batch", "batch"])


def test_rnn_constants_are_appended_after_states():
    seen = []

    def step(x_t, states):
        seen.append(len(states))
        h, k = states
        return x_t * k, [h + x_t]

    x = np.arange(12, dtype="float32").reshape(2, 3, 2)
    k = np.full((2, 2), 3.0, "float32")
    last, outs, (h,) = K.rnn(step, x, [np.zeros((2, 2), "float32")], constants=[k])
    assert set(seen) == {2}
    np.testing.assert_allclose(outs, x * 3.0)
    np.testing.assert_allclose(h, x.sum(1))


def test_rnn_higher_rank_inputs_and_3d_mask():
    # inputs (batch, time, a, b); the step works elementwise; the mask broadcasts.
    x = _rand(2, 3, 4, 2)
    s0 = np.zeros((2, 4, 2), "float32")
    m = _mask(2, 3)

    def step(x_t, states):
        s = states[0] * 0.5 + x_t
        return s * 2.0, [s]

    def fn(x, s0, m):
        return K.rnn(step, x, [s0], mask=m)

    check(fn, lambda x, s0, m: np_rnn(step, x, [s0], mask=m), x, s0, m)
    m3 = m[:, :, None]  # (batch, time, 1) masks are accepted too
    got = K.rnn(step, x, [s0], mask=m3)
    want = np_rnn(step, x, [s0], mask=m)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_rnn_bool_mask_masked_start_gives_zeros():
    x = np.ones((1, 4, 1), "float32")
    m = np.array([[False, False, True, False]])

    def step(x_t, states):
        s = states[0] + x_t
        return s, [s]

    last, outs, (s,) = K.rnn(step, x, [np.full((1, 1), 10.0, "float32")], mask=m)
    np.testing.assert_array_equal(outs[0, :, 0], [0.0, 0.0, 11.0, 11.0])
    np.testing.assert_array_equal(last, [[11.0]])
    np.testing.assert_array_equal(s, [[11.0]])


def test_rnn_go_backwards_order():
    x = np.arange(4, dtype="float32").reshape(1, 4, 1)

    def step(x_t, states):
        return x_t, [states[0] * 10 + x_t]

    last, outs, (s,) = K.rnn(step, x, [np.zeros((1, 1), "float32")], go_backwards=True)
    np.testing.assert_array_equal(outs[0, :, 0], [3, 2, 1, 0])  # processing order
    np.testing.assert_array_equal(last, [[0]])  # the output of original step 0
    np.testing.assert_array_equal(s, [[3210]])


def test_rnn_unroll_matches_scan_and_uses_input_length():
    x, h0, W, U = _simple_case()
    step = simple_step(K.variable(W), K.variable(U), _dot, _tanh)
    xp = K.placeholder((None, None, 4))
    hp = K.placeholder((None, 6))
    with pytest.raises(ValueError, match="rnn: unroll=True needs a static number"):
        K.rnn(step, xp, [hp], unroll=True)
    a = K.rnn(step, xp, [hp], unroll=True, input_length=5)
    b = K.rnn(step, xp, [hp], unroll=False)
    assert tuple(a[1].shape) == (None, 5, 6)
    f = K.function([xp, hp], [a[1], b[1], a[0], b[0]])
    ra, rb, la, lb = f([x, h0])
    np.testing.assert_allclose(ra, rb, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(la, lb, rtol=1e-5, atol=1e-6)


def test_rnn_plain_arrays_return_arrays_and_grads():
    x, h0, W, U = _simple_case(dtype="float64", batch=2, time=3, d=2, units=3)
    m = _mask(2, 3)
    for unroll in (False, True):
        out = K.rnn(simple_step(W, U, _dot, _tanh), x, [h0], mask=m, unroll=unroll)
        assert all(isinstance(v, jax.Array) for v in jax.tree_util.tree_leaves(out))

        def f(x, h0, W, U, unroll=unroll):
            last, outs, (h,) = K.rnn(simple_step(W, U, _dot, _tanh), x, [h0], mask=m,
                                     unroll=unroll, go_backwards=True)
            return outs, h

        # second order on the scan; first order on the unrolled graph keeps this fast
        check_grads(jax.jit(f), (x, h0, W, U), order=1 if unroll else 2, modes=["rev"])


def test_rnn_plain_inside_user_jit():
    x, h0, W, U = _simple_case(batch=2, time=3)
    f = jax.jit(lambda x, h: K.rnn(simple_step(W, U, _dot, _tanh), x, [h])[1])
    want = np_rnn(simple_step(W, U, np.dot, np.tanh), x, [h0])[1]
    np.testing.assert_allclose(f(x, h0), want, rtol=1e-5, atol=1e-6)


def test_rnn_state_dtype_widened_by_step():
    x = _rand(2, 3, 2)
    U = _rand(2, 2, dtype="float64")

    def step(x_t, states):  # float32 state times a float64 matrix gives float64
        h = _dot(states[0], U) + x_t
        return h, [h]

    last, outs, (h,) = K.rnn(step, x, [np.zeros((2, 2), "float32")])
    want = np_rnn(lambda xt, s: (s[0] @ U + xt, [s[0] @ U + xt]), x.astype("float64"),
                  [np.zeros((2, 2))])
    assert outs.dtype == np.float64 and h.dtype == np.float64
    np.testing.assert_allclose(outs, want[1], rtol=1e-6)


# ----------------------------------------------------------------------------- rnn: graphs


def test_rnn_step_closing_over_variable_in_plain_mode_becomes_symbolic():
    x, h0, W, U = _simple_case()
    kW, kU = K.variable(W), K.variable(U)
    last, outs, (h,) = K.rnn(simple_step(kW, kU, _dot, _tanh), x, [h0])
    assert isinstance(outs, Tensor)
    want = np_rnn(simple_step(W, U, np.dot, np.tanh), x, [h0])
    np.testing.assert_allclose(K.eval(outs), want[1], rtol=1e-5, atol=1e-6)
    K.set_value(kW, W * 0)  # the graph reads the variable when it runs
    want0 = np_rnn(simple_step(W * 0, U, np.dot, np.tanh), x, [h0])
    np.testing.assert_allclose(K.eval(h), want0[2][0], rtol=1e-5, atol=1e-6)


def test_rnn_records_the_step_once():
    calls = []
    kW = K.variable(_rand(4, 6))

    def step(x_t, states):
        calls.append(1)
        return _dot(x_t, kW), [states[0]]

    K.rnn(step, K.placeholder((None, 5, 4)), [K.placeholder((None, 6))],
          mask=K.placeholder((None, 5)))
    assert len(calls) == 1


def _jnp_loss(W, U, x, h0, m, go_backwards):
    h, prev, total = jnp.asarray(h0), None, 0.0
    order = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    for t in order:
        new = jnp.tanh(x[:, t] @ W + h @ U)
        keep = m[:, t:t + 1].astype(bool)
        prev = jnp.zeros_like(new) if prev is None else prev
        out = jnp.where(keep, new, prev)
        h = jnp.where(keep, new, h)
        prev = out
        total = total + jnp.sum(out * out) * (t + 1)
    return total + jnp.sum(h)


@pytest.mark.parametrize("unroll,go_backwards", [(False, False), (False, True),
                                                  (True, True)])
def test_rnn_gradients_wrt_kernel(unroll, go_backwards):
    x, h0, W, U = _simple_case(batch=2, time=4, d=3, units=4)
    m = _mask(2, 4)
    kW, kU = K.variable(W), K.variable(U)
    xp = K.placeholder((None, 4, 3))
    hp, mp = K.placeholder((None, 4)), K.placeholder((None, 4))
    last, outs, (h,) = K.rnn(simple_step(kW, kU, _dot, _tanh), xp, [hp], mask=mp,
                             go_backwards=go_backwards, unroll=unroll)
    order = np.arange(4, 0, -1) if go_backwards else np.arange(1, 5)
    weights = K.constant(order.reshape(1, 4, 1).astype("float32"))
    loss = _sum(outs * outs * weights) + _sum(h)
    gW, gU, gx = K.gradients(loss, [kW, kU, xp])
    f = K.function([xp, hp, mp], [loss, gW, gU, gx])
    got = f([x, h0, m])
    want_loss, want = jax.jit(jax.value_and_grad(_jnp_loss, argnums=(0, 1, 2)),
                              static_argnums=5)(W, U, x, h0, m, go_backwards)
    np.testing.assert_allclose(got[0], want_loss, rtol=1e-5)
    for g, w in zip(got[1:], want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_rnn_learning_phase_tag_and_dropout_mask_per_call():
    x = np.ones((2, 4, 3), "float32")
    h0 = np.zeros((2, 3), "float32")
    xp, hp = K.placeholder((None, 4, 3)), K.placeholder((None, 3))
    cache = {}

    def step(x_t, states):  # like Keras' SimpleRNNCell: the mask is made from x_t once
        if "mask" not in cache:
            ones = K.ones_like(x_t)
            cache["mask"] = K.in_train_phase(lambda: K.dropout(ones, 0.5), ones)
        return x_t * cache["mask"], [states[0]]

    last, outs, _ = K.rnn(step, xp, [hp])
    assert last._uses_learning_phase
    f = K.function([xp, hp, K.learning_phase()], [outs])
    test_out = f([x, h0, 0])[0]
    np.testing.assert_array_equal(test_out, x)
    train1, train2 = f([x, h0, 1])[0], f([x, h0, 1])[0]
    for out in (train1, train2):
        assert set(np.unique(out)) <= {0.0, 2.0}
        # one mask for every time step of a call
        np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1], out.shape))
    assert not np.array_equal(train1, train2) or not np.array_equal(
        f([x, h0, 1])[0], train1)


def test_rnn_without_learning_phase_is_untagged():
    last, _, _ = K.rnn(simple_step(K.variable(_rand(4, 6)), K.variable(_rand(6, 6)), _dot,
                                   _tanh), K.placeholder((None, 5, 4)),
                       [K.placeholder((None, 6))])
    assert not getattr(last, "_uses_learning_phase", False)


def test_rnn_unrolled_learning_phase_tag():
    xp = K.placeholder((None, 3, 2))

    def step(x_t, states):
        return K.in_train_phase(x_t * 0.0, x_t), [states[0]]

    last, outs, _ = K.rnn(step, xp, [K.placeholder((None, 2))], unroll=True)
    assert last._uses_learning_phase


def test_rnn_variable_initial_states_stateful():
    x, h0, W, U = _simple_case(batch=2, time=3)
    state = K.variable(h0)
    xp = K.placeholder((2, 3, 4))
    last, outs, (h,) = K.rnn(simple_step(W, U, _dot, _tanh), xp, [state])
    f = K.function([xp], [outs], updates=[(state, h)])
    first = f([x])[0]
    second = f([x])[0]
    want1 = np_rnn(simple_step(W, U, np.dot, np.tanh), x, [h0])
    want2 = np_rnn(simple_step(W, U, np.dot, np.tanh), x, [want1[2][0]])
    np.testing.assert_allclose(first, want1[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second, want2[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("unroll", [False, True])
def test_rnn_without_states_time_distributed_pattern(unroll):
    # Keras' TimeDistributed runs a layer through K.rnn with no states at all.
    W = _rand(3, 2)
    kW = K.variable(W)
    xp = K.placeholder((None, 4, 3))
    last, outs, states = K.rnn(lambda x_t, _: (_dot(x_t, kW), []), xp, [], unroll=unroll,
                               input_length=4)
    assert states == [] and tuple(outs.shape) == (None, 4, 2)
    x = _rand(2, 4, 3)
    got_last, got = K.function([xp], [last, outs])([x])
    np.testing.assert_allclose(got, x @ W, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_last, x[:, -1] @ W, rtol=1e-5, atol=1e-6)


def test_rnn_python_data_inputs():
    x = [[[1.0], [2.0], [3.0]]]
    last, outs, (s,) = K.rnn(lambda x_t, st: (st[0] + x_t, [st[0] + x_t]), x, [[[0.5]]],
                             mask=[[1, 0, 1]])
    np.testing.assert_allclose(outs[0, :, 0], [1.5, 1.5, 4.5])
    np.testing.assert_allclose(s, [[4.5]])


# ----------------------------------------------------------------------------- rnn: errors


def test_rnn_errors():
    def step(x_t, states):
        return x_t, [states[0]]

    with pytest.raises(ValueError, match=r"rnn: inputs must be at least 3-D.*\(2, 3\)"):
        K.rnn(step, np.ones((2, 3)), [np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"rnn: mask must be at least 2-D.*mask.shape=\(2,\)"):
        K.rnn(step, np.ones((2, 3, 1)), [np.zeros((2, 1))], mask=np.ones(2))
    with pytest.raises(ValueError, match=r"rnn: inputs have no time steps.*\(2, 0, 1\)"):
        K.rnn(step, np.ones((2, 0, 1)), [np.zeros((2, 1))])
    with pytest.raises(ValueError, match="rnn: the step function returned 1 states but 2"):
        K.rnn(step, np.ones((2, 3, 1)), [np.zeros((2, 1)), np.zeros((2, 1))])
    with pytest.raises(ValueError, match="rnn: the step function returned 1 states but 2"):
        K.rnn(step, np.ones((2, 3, 1)), [np.zeros((2, 1)), np.zeros((2, 1))], unroll=True)
    with pytest.raises(ValueError, match=r"rnn: state 0 changes shape"):
        K.rnn(lambda x, s: (x, [x]), np.ones((2, 3, 1)), [np.zeros((2, 4))])
    with pytest.raises(ValueError, match="rnn"):
        K.rnn(lambda x, s: (x, [x]), K.placeholder((None, 3, 1)), [np.zeros((2, 4))])


# ----------------------------------------------------------------------------- map_fn


@pytest.mark.parametrize("shape", [(4, 3), (1, 2, 3), (5,)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_map_fn_three_modes(shape, dtype):
    x = _rand(*shape, dtype=dtype)

    def fn(row):
        return _tanh(row) * 2.0 + _sum(row)

    check(lambda x: K.map_fn(fn, x),
          lambda x: np.stack([np.tanh(r) * 2.0 + r.sum() for r in x]).astype(dtype), x,
          rtol=1e-5)


def test_map_fn_dtype_and_int():
    x = np.arange(12, dtype="int32").reshape(4, 3)
    check(lambda x: K.map_fn(lambda r: r * 2, x), lambda x: x * 2, x)
    check(lambda x: K.map_fn(lambda r: r * 2, x, dtype="float32"),
          lambda x: (x * 2).astype("float32"), x)


def test_map_fn_capturing_variable_and_grads():
    x, W = _rand(3, 4), _rand(4, 2)
    kW = K.variable(W)
    xp = K.placeholder((None, 4))
    out = K.map_fn(lambda r: _tanh(_dot(r, kW)), xp, name="m")
    assert tuple(out.shape) == (None, 2)
    g = K.gradients(_sum(out), kW)
    got, gw = K.function([xp], [out, g])([x])
    np.testing.assert_allclose(got, np.tanh(x @ W), rtol=1e-5, atol=1e-6)
    want = jax.grad(lambda W: jnp.sum(jnp.tanh(x @ W)))(W)
    np.testing.assert_allclose(gw, want, rtol=1e-5, atol=1e-6)
    # plain elements, captured variable: the result is symbolic
    plain = K.map_fn(lambda r: _dot(r, kW), x)
    assert isinstance(plain, Tensor)
    np.testing.assert_allclose(K.eval(plain), x @ W, rtol=1e-5, atol=1e-6)
    x64 = x.astype("float64")
    check_grads(jax.jit(lambda x: K.map_fn(lambda r: jnp.tanh(r) * r, x)), (x64,), order=2,
                modes=["rev"])


def test_map_fn_tuple_elems():
    a, b = _rand(3, 2), _rand(3, 2)
    check(lambda a, b: K.map_fn(lambda ab: ab[0] * ab[1], (a, b)), lambda a, b: a * b, a, b)


def test_map_fn_error():
    with pytest.raises(ValueError, match=r"map_fn: elems must have at least one axis"):
        K.map_fn(lambda r: r, np.float32(3.0))


# ----------------------------------------------------------------------------- folds


def _np_fold(fn, x, init, reverse):
    seq = list(x[::-1] if reverse else x)
    acc = seq.pop(0) if init is None else init
    for e in seq:
        acc = fn(acc, e)
    return acc


def _order_sensitive(acc, x):
    return acc * 0.5 + x  # so left and right folds differ


@pytest.mark.parametrize("fold,reverse", [(K.foldl, False), (K.foldr, True)])
@pytest.mark.parametrize("shape", [(5,), (4, 3), (3, 2, 2), (1, 3)])
@pytest.mark.parametrize("with_init", [False, True])
def test_folds_three_modes(fold, reverse, shape, with_init):
    x = _rand(*shape)
    init = _rand(*shape[1:])
    if with_init:
        check(lambda x, i: fold(_order_sensitive, x, i),
              lambda x, i: np.asarray(_np_fold(_order_sensitive, x, i, reverse), "float32"),
              x, init, none=["batch", None])
    else:
        check(lambda x: fold(_order_sensitive, x),
              lambda x: np.asarray(_np_fold(_order_sensitive, x, None, reverse), "float32"), x)


@pytest.mark.parametrize("fold,reverse", [(K.foldl, False), (K.foldr, True)])
def test_folds_python_scalar_initializer_and_ints(fold, reverse):
    x = _rand(4)
    got = fold(lambda a, e: a * 2.0 + e, x, initializer=1.0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _np_fold(lambda a, e: a * 2.0 + e, x, 1.0, reverse),
                               rtol=1e-6)
    xi = np.arange(1, 5, dtype="int32")
    check(lambda x: fold(lambda a, e: a * 10 + e, x, 0),
          lambda x: np.asarray(_np_fold(lambda a, e: a * 10 + e, x, 0, reverse), "int32"),
          xi, none=None)


def test_fold_widens_accumulator_dtype():
    x = _rand(3, dtype="float64")
    got = K.foldl(lambda a, e: a + e, x, initializer=np.float32(1.0))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, 1.0 + x.sum())


def test_folds_capture_variable_and_gradients():
    x, W = _rand(4, 2), _rand(2, 2) * 0.5
    kW = K.variable(W)
    xp = K.placeholder((None, 2))
    acc = K.foldr(lambda a, e: _tanh(_dot(a, kW)) + e, xp)
    assert tuple(acc.shape) == (2,)
    g = K.gradients(_sum(acc), kW)
    got, gw = K.function([xp], [acc, g])([x])

    def ref(W):
        a = x[-1]
        for e in x[-2::-1]:
            a = jnp.tanh(a @ W) + e
        return a

    np.testing.assert_allclose(got, ref(W), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gw, jax.grad(lambda W: jnp.sum(ref(W)))(W), rtol=1e-5,
                               atol=1e-6)
    x64 = x.astype("float64")
    check_grads(jax.jit(lambda x, i: K.foldl(lambda a, e: jnp.sin(a) * e, x, i)),
                (x64, np.ones(2)), order=2, modes=["rev"])


def test_fold_errors():
    with pytest.raises(ValueError, match=r"foldl: elems is empty and no initializer"):
        K.foldl(lambda a, e: a + e, np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"foldr: elems must have at least one axis"):
        K.foldr(lambda a, e: a + e, np.float32(1.0))
    with pytest.raises(ValueError, match=r"foldl: fn must keep the accumulator.s shape"):
        K.foldl(lambda a, e: a + e, np.ones((3, 2)), initializer=np.float32(0.0))
    with pytest.raises(ValueError, match="fold"):
        K.foldl(lambda a, e: a + e, K.placeholder((None, 2)), initializer=np.float32(0.0))


# ----------------------------------------------------------------------------- print_tensor


def test_print_tensor_plain(capfd):
    x = np.array([1.5, 2.5], "float32")
    out = K.print_tensor(x, message="value of {x}:")
    jax.effects_barrier()
    assert isinstance(out, jax.Array) and out.dtype == np.float32 and out is not x
    np.testing.assert_array_equal(out, x)
    printed = capfd.readouterr().out
    assert "value of {x}: [1.5 2.5]" in printed


def test_print_tensor_in_compiled_function(capfd):
    x = K.placeholder((None, 2), dtype="int32")
    out = K.print_tensor(x * 2, "twice")
    assert tuple(out.shape) == (None, 2) and out.dtype == np.int32
    capfd.readouterr()
    f = K.function([x], [out])
    for v in ([[1, 2]], [[3, 4], [5, 6]], [[7, 8]]):
        np.testing.assert_array_equal(f([np.array(v)])[0], np.array(v) * 2)
        jax.effects_barrier()
        printed = capfd.readouterr().out
        assert printed.count("twice") == 1
        assert str(np.array(v) * 2).splitlines()[0] in printed


def test_print_tensor_only_when_used(capfd):
    x = K.placeholder((2,))
    K.print_tensor(x, "UNUSED")  # not part of the function's outputs
    f = K.function([x], [x * 1.0])
    f([np.ones(2, "float32")])
    jax.effects_barrier()
    assert "UNUSED" not in capfd.readouterr().out


def test_print_tensor_variable_three_modes():
    x = _rand(3, 2)
    check(lambda x: K.print_tensor(x, "chk"), lambda x: x, x)


def _conv_lstm_grads(x, k, r):
    """Loss and gradients of a ConvLSTM2D-like K.rnn whose step runs four gate
    convolutions of x_t and four of h (kernel slices of one variable each)."""
    kv, rv = K.variable(k), K.variable(r)
    f = k.shape[-1] // 4

    def step(x_t, states):
        h, c = states
        z = [K.conv2d(x_t, kv[:, :, :, f * i:f * (i + 1)], padding="same")
             + K.conv2d(h, rv[:, :, :, f * i:f * (i + 1)], padding="same") for i in range(4)]
        c = K.sigmoid(z[1]) * c + K.sigmoid(z[0]) * K.tanh(z[2])
        h = K.sigmoid(z[3]) * K.tanh(c)
        return h, [h, c]

    xp = K.placeholder((None,) + x.shape[1:])
    h0 = K.placeholder((None,) + x.shape[2:-1] + (f,))
    _, outs, _ = K.rnn(step, xp, [h0, h0])
    loss = K.sum(outs * outs)
    fn = K.function([xp, h0], [loss] + K.gradients(loss, [kv, rv, xp]))
    return fn([x, np.zeros((x.shape[0],) + x.shape[2:-1] + (f,), "float32")])


def test_rnn_merges_convolutions_of_one_input(monkeypatch):
    """In a loop body, convolutions of one input with kernels of one shape (a ConvLSTM2D's
    gates) run as one convolution, with the values and gradients of separate ones."""
    from jkb import graph
    x, k, r = _rand(2, 3, 5, 4, 3), _rand(3, 3, 3, 8) * 0.3, _rand(3, 3, 2, 8) * 0.3
    sizes, real = [], graph.merge_groups

    def spy(nodes):
        groups = real(nodes)
        sizes.extend(len(g) for m, g in groups.items() if g[0] is m)
        return groups
    monkeypatch.setattr(graph, "merge_groups", spy)
    got = _conv_lstm_grads(x, k, r)
    assert sorted(sizes) == [4, 4]
    monkeypatch.setattr(K.platform, "platform", lambda: "gpu")  # measured on the CPU only
    sizes.clear()
    _conv_lstm_grads(x[:, :1], k, r)
    assert sizes == []
    monkeypatch.undo()
    monkeypatch.setattr(graph, "merge_groups", lambda nodes: {})
    want = _conv_lstm_grads(x, k, r)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-6)


def test_merge_groups_rules():
    """What merges: one op, the same inputs and static arguments, kernels of one shape but
    the last dim; a channels_first group splits along axis 1; a kernel computed from a
    member keeps its group apart."""
    from jkb import graph
    xp = K.placeholder((2, 3, 6, 5))  # channels_first
    shapes = [(3, 3, 3, 2), (3, 3, 3, 4), (3, 3, 3, 2), (2, 3, 3, 2)]
    k1, k2, k3, k4 = (K.placeholder(s) for s in shapes)
    a = K.conv2d(xp, k1, padding="same", data_format="channels_first")
    b = K.conv2d(xp, k2, padding="same", data_format="channels_first")
    c = K.conv2d(xp, k3, padding="valid", data_format="channels_first")  # other padding
    d = K.conv2d(xp, k4, padding="same", data_format="channels_first")  # other kernel size
    e = K.conv2d(xp, k1 * K.mean(a), padding="same", data_format="channels_first")
    nodes = graph._topo([a, b, c, d, e])
    groups = graph.merge_groups(nodes)
    assert set(groups) == {a, b} and groups[a] is groups[b] and groups[a][0] is a
    assert not graph.merge_groups(graph._topo([a, e]))  # e's kernel reads a: apart
    feeds = {xp: _rand(2, 3, 6, 5), **{k: _rand(*s) for k, s in zip((k1, k2, k3, k4), shapes)}}
    ctx = graph._Ctx({}, None, None, None)
    merged = graph._Eval(dict(feeds), ctx, merges=groups)
    plain = graph._Eval(dict(feeds), ctx)
    for t in (b, a, c, d):
        np.testing.assert_allclose(merged(t), plain(t), rtol=1e-5, atol=1e-6)
