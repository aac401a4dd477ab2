"""Nothing that runs under a user's trace writes a traced value into the session.

Every action that reads or writes session or global state (random step, seeded draw
counters, salts, eval cache, variables, values, uid and name counters, learning phase,
K.function calls, Session.state) runs under each transform: jit, scan, cond, vmap, grad,
checkpoint. It either works or raises a clear error; either way the session is intact
afterwards: no tracer in it, and random ops, K.eval, K.function with dropout and
``K.get_session().state`` all work.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jkb as K
from jkb.core import _Tracer

SHAPE = (4, 6)


def _under(transform, fn):
    """Runs ``fn(x) -> array of SHAPE`` under ``transform`` on a float32 input."""
    x = jnp.ones(SHAPE, jnp.float32)
    if transform == "jit":
        return jax.jit(fn)(x)
    if transform == "scan":
        return lax.scan(lambda c, xi: (c, fn(xi)), 0.0, x[None])[1][0]
    if transform == "cond":
        return jax.jit(lambda p, x: lax.cond(p, fn, fn, x))(True, x)
    if transform == "vmap":
        return jax.vmap(fn)(x[None])[0]
    if transform == "grad":
        return jax.grad(lambda x: jnp.sum(fn(x)))(x)
    if transform == "checkpoint":
        return jax.checkpoint(fn)(x)
    raise AssertionError(transform)


TRANSFORMS = ["jit", "scan", "cond", "vmap", "grad", "checkpoint"]


def _assert_session_intact():
    sess = K.get_session()
    st = sess._state
    leaves = [*st.values.values(), st.key, st.step, *st.draws.values()]
    assert not any(isinstance(a, _Tracer) for a in leaves)
    for fn in sess.eval_cache.values():
        assert not any(isinstance(c, _Tracer) for c in fn._consts)
    assert K.get_session().state is not None
    assert K.eval(K.random_normal((2,))).shape == (2,)
    assert K.eval(K.random_normal((2,), seed=1)).shape == (2,)
    out = _dropout_fn()([np.ones((2, 3), np.float32)])[0]
    assert out.shape == (2, 3)
    assert np.asarray(K.dropout(np.ones(3, np.float32), 0.5)).shape == (3,)


_cache = {}


def _dropout_fn():
    """A K.function with unseeded dropout (the session's key and step), made once: it holds
    no variable, so it runs against whichever session is live and compiles only once."""
    if "f" not in _cache:
        p = K.placeholder((None, 3))
        _cache["f"] = K.function([p], [K.dropout(p, 0.5)])
    return _cache["f"]


def _prepare():
    """Some state for the actions to touch: a variable, a seeded op, an eval-cached node."""
    v = K.variable(np.ones(SHAPE, np.float32), name="v")
    r = K.random_uniform(SHAPE, seed=3)
    u = K.random_normal(SHAPE)
    K.eval(r)
    K.eval(u)
    return v, r, u


# (name, action(x, v, r) -> array of SHAPE, error regex or None when it must work)
ACTIONS = [
    ("dropout_unkeyed", lambda x, v, r, u: K.dropout(x, 0.5), "explicit key"),
    ("random_unkeyed", lambda x, v, r, u: x + K.random_normal(SHAPE), "explicit key"),
    ("random_unkeyed_traced_shape", lambda x, v, r, u: x + K.random_uniform(K.shape(x)),
     "explicit key"),
    ("dropout_keyed", lambda x, v, r, u: K.dropout(x, 0.5, seed=jax.random.key(0)), None),
    ("dropout_raw_key", lambda x, v, r, u: K.dropout(x, 0.5, seed=jax.random.PRNGKey(0)),
     None),
    ("random_keyed", lambda x, v, r, u: x + K.random_normal(SHAPE, seed=jax.random.key(1)),
     None),
    ("dropout_int_seed", lambda x, v, r, u: K.dropout(x, 0.5, seed=3), None),
    ("random_int_seed", lambda x, v, r, u: x + K.truncated_normal(SHAPE, seed=3), None),
    ("traced_seed", lambda x, v, r, u: K.dropout(
        x, 0.5, seed=jnp.asarray(x[0, 0], jnp.int32)), None),
    ("eval_random_node", lambda x, v, r, u: x + K.eval(u), None),
    ("eval_seeded_node", lambda x, v, r, u: x + K.eval(r), None),
    ("eval_variable_graph", lambda x, v, r, u: x * K.eval(v * 2.0), None),
    ("make_variable", lambda x, v, r, u: x + K.get_value(K.variable(np.ones(SHAPE))), None),
    ("variable_from_tracer", lambda x, v, r, u: K.variable(x) * 1.0, "traced value"),
    ("set_value_tracer", lambda x, v, r, u: (K.set_value(v, x), x)[1], "traced value"),
    ("set_value_concrete", lambda x, v, r, u: (K.set_value(v, np.ones(SHAPE)), x)[1], None),
    ("constant", lambda x, v, r, u: x + K.eval(K.constant(np.ones(SHAPE))), None),
    ("function_call", lambda x, v, r, u: _call_unfed(x, v), None),
    ("function_call_fed", lambda x, v, r, u: K.function(
        [K.placeholder(SHAPE)], [K.dropout(v, 0.5)])([x]), "f.pure"),
    ("pure_form", lambda x, v, r, u: K.function(
        [K.placeholder(SHAPE)], [K.dropout(v, 0.5) + r])
        .pure(K.get_session().state, [x], 1)[0][0], None),
    ("learning_phase", lambda x, v, r, u: (K.set_learning_phase(x[0, 0]), x)[1],
     "traced value"),
    ("set_random_seed", lambda x, v, r, u: (K.set_random_seed(x[0, 0]), x)[1], "traced seed"),
    ("uid_counter", lambda x, v, r, u: x * K.get_uid("t"), None),
    ("graph_building", lambda x, v, r, u: (K.dropout(v, 0.5, seed=4), x)[1], None),
    ("mix_graph_and_tracer", lambda x, v, r, u: v + x, "cannot mix"),
    ("session_state_assign", lambda x, v, r, u: _assign_traced(x), "traced values"),
    ("rnn_dropout_unkeyed", lambda x, v, r, u: K.rnn(
        lambda xt, s: (K.dropout(xt, 0.5), s), x[None], [x[:, 0]])[1][0], "explicit key"),
    ("rnn_dropout_keyed", lambda x, v, r, u: K.rnn(
        lambda xt, s: (K.dropout(xt, 0.5, seed=jax.random.key(0)), s), x[None],
        [x[:, 0]])[1][0], None),
    ("in_train_phase_traced", lambda x, v, r, u: K.in_train_phase(
        lambda: K.dropout(x, 0.5, seed=jax.random.key(2)), lambda: x,
        training=x[0, 0] > 0), None),
]


def _call_unfed(x, v):
    """A K.function with no traced input: where the transform stages its work (jit, scan,
    cond, checkpoint) it must refuse, pointing to f.pure; where it does not (vmap, grad of
    unrelated values) it runs concretely. Either way nothing traced is stored."""
    f = K.function([], [v * 1.0])
    try:
        return f([])[0] + x
    except TypeError as e:
        assert "f.pure" in str(e)
        return x


def _assign_traced(x):
    sess = K.get_session()
    st = sess.state
    (u,) = [u for u in st.values if sess.variables[u].name == "v:0"]
    sess.state = st.replace({u: x})
    return x


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("name,action,error", ACTIONS, ids=[a[0] for a in ACTIONS])
def test_action_under_transform_leaves_session_intact(transform, name, action, error):
    v, r, u = _prepare()
    step_before = int(K.get_session()._state.step)
    if error is None:
        out = _under(transform, lambda x: jnp.asarray(action(x, v, r, u), jnp.float32))
        assert out.shape == SHAPE
    else:
        with pytest.raises((TypeError, ValueError), match=error):
            _under(transform, lambda x: jnp.asarray(action(x, v, r, u), jnp.float32))
    # Keyed or seeded draws on plain values never touch the session's random stream.
    if name in ("dropout_keyed", "dropout_raw_key", "random_keyed", "dropout_int_seed",
                "random_int_seed", "traced_seed", "pure_form"):
        assert int(K.get_session()._state.step) == step_before
    _assert_session_intact()


def test_issue_example_runs_after_a_keyed_jit():
    K.eval(K.random_normal((2,)))
    key = jax.random.key(0)
    out = jax.jit(lambda x, k: K.dropout(x, 0.5, seed=k))(jnp.ones((4, 6), jnp.float32), key)
    assert set(np.unique(np.asarray(out))) <= {0.0, 2.0}
    with pytest.raises(TypeError, match="seed=jax.random.key"):
        jax.jit(lambda x: K.dropout(x, 0.5))(jnp.ones((4, 6), jnp.float32))
    assert K.eval(K.random_normal((2,))).shape == (2,)
    _assert_session_intact()


def test_jit_of_a_function_points_to_pure():
    x = K.placeholder((None, 2))
    f = K.function([x], [x * 2])
    with pytest.raises(TypeError, match=r"f\.pure\(state, inputs, training\)"):
        jax.jit(f)([jnp.ones((3, 2))])
    with pytest.raises(TypeError, match="f.pure"):
        jax.jit(lambda: f([np.ones((3, 2))]))()
    np.testing.assert_array_equal(f([np.ones((3, 2), np.float32)])[0], 2 * np.ones((3, 2)))


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_session_first_made_under_a_transform_is_concrete(transform):
    """The session jkb makes on first use holds concrete key and step buffers even when
    that first use happens under a user's trace."""
    for first_use in (lambda x: x + K.get_value(K.variable(np.ones(SHAPE, np.float32))),
                      lambda x: (K.get_session(), x)[1]):
        K.clear_session()
        assert _under(transform, first_use).shape == SHAPE
        _assert_session_intact()
