"""The tensor model: symbolic tensors, lifting, introspection, plain-array mode."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkb as K
from jkb.core import Node, Tensor, op


def test_backend_name():
    assert K.backend() == "jkb"


def test_placeholder_shapes_and_attributes():
    p = K.placeholder((None, 3), name="inp")
    assert p.shape == (None, 3) and p.get_shape().as_list() == [None, 3]
    assert K.int_shape(p) == (None, 3) and K.ndim(p) == 2 and K.dtype(p) == "float32"
    assert p._keras_shape == (None, 3) and p._uses_learning_phase is False
    assert p.name == "inp"
    q = K.placeholder(ndim=3, dtype="int32")
    assert q.shape == (None, None, None) and K.dtype(q) == "int32"
    assert K.is_placeholder(p) and not K.is_placeholder(np.ones(2))
    assert K.placeholder((2,), sparse=True).sparse
    with pytest.raises(ValueError, match="shape or an ndim"):
        K.placeholder()


def test_free_attributes_and_identity_semantics():
    p = K.placeholder((2, 3))
    y = p * 2
    y._keras_history = ("layer", 0, 0)
    y._keras_shape = (2, 3)
    assert y._keras_history[0] == "layer"
    assert K.is_keras_tensor(y) and not K.is_keras_tensor(p)
    with pytest.raises(ValueError):
        K.is_keras_tensor(np.ones(2))
    z = K.identity(y)
    assert z is not y and isinstance(z, Tensor)
    # == is identity (Keras keys caches by it); hashing works
    assert (y == y) is True and (y == z) is False
    assert len({y, z, y}) == 2


def test_bool_raises_clear_error():
    p = K.placeholder((2,))
    with pytest.raises(TypeError, match="Python bool"):
        bool(p > 0)
    with pytest.raises(TypeError, match="Python bool"):
        if p:
            pass


@pytest.mark.parametrize("fn,ref", [
    (lambda a, b: a + b, np.add), (lambda a, b: a - b, np.subtract),
    (lambda a, b: a * b, np.multiply), (lambda a, b: a / b, np.true_divide),
    (lambda a, b: a ** 2 + b, lambda a, b: a ** 2 + b), (lambda a, b: a // b, np.floor_divide),
    (lambda a, b: a % b, np.mod), (lambda a, b: -a + abs(b), lambda a, b: -a + np.abs(b)),
    (lambda a, b: a > b, np.greater), (lambda a, b: a >= b, np.greater_equal),
    (lambda a, b: a < b, np.less), (lambda a, b: a <= b, np.less_equal),
    (lambda a, b: 2.0 - a, lambda a, b: 2.0 - a), (lambda a, b: 1.0 / b, lambda a, b: 1.0 / b),
    (lambda a, b: 3 * a, lambda a, b: 3 * a), (lambda a, b: np.float32(2) ** a,
                                                lambda a, b: np.float32(2) ** a),
])
def test_operators_both_modes(fn, ref):
    a = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)
    b = np.array([[2.0, 1.0, -3.0], [1.5, 2.0, 0.5]], np.float32)
    want = ref(a, b)
    got_plain = fn(jnp.asarray(a), jnp.asarray(b))
    np.testing.assert_allclose(got_plain, want, rtol=1e-6)
    pa, pb = K.placeholder((None, 3)), K.placeholder((None, 3))
    out = fn(pa, pb)
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(K.function([pa, pb], [out])([a, b])[0], want, rtol=1e-6)
    va, vb = K.variable(a), K.variable(b)
    np.testing.assert_allclose(K.eval(fn(va, vb)), want, rtol=1e-6)


def test_numpy_on_left_defers_to_tensor():
    p = K.placeholder((2,))
    out = np.array([1.0, 2.0], np.float32) + p
    assert isinstance(out, Tensor)
    assert np.allclose(K.function([p], [out])([np.array([1.0, 1.0])])[0], [2.0, 3.0])


def test_matmul_and_getitem():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    w = np.ones((4, 2), np.float32)
    p = K.placeholder((None, 4))
    f = K.function([p], [p @ w, p[:, 1:3], p[0], p[1:, -1], p[::2, ::-1]])
    got = f([x])
    for g, want in zip(got, [x @ w, x[:, 1:3], x[0], x[1:, -1], x[::2, ::-1]]):
        np.testing.assert_array_equal(g, want)
    assert (p[:, 1:3]).shape == (None, 2) and p[0].shape == (4,)


def test_slice_bounds_from_shape_are_static():
    x = K.placeholder((None, 6))
    y = K.placeholder((None, 2))
    out = x[:, : K.shape(y)[1] * 2]
    assert out.shape == (None, 4)
    np.testing.assert_array_equal(
        K.function([x, y], [out])([np.ones((3, 6)), np.ones((3, 2))])[0], np.ones((3, 4)))


def test_eval_and_asarray():
    v = K.variable(np.array([1.0, 2.0]))
    t = v * 3
    np.testing.assert_allclose(t.eval(), [3.0, 6.0])
    np.testing.assert_allclose(np.asarray(t), [3.0, 6.0])
    p = K.placeholder((2,))
    np.testing.assert_allclose((p + v).eval(feed_dict={p: np.ones(2)}), [2.0, 3.0])
    np.testing.assert_allclose((p * 2).eval(feed_dict={p: [1.0, 2.0]}), [2.0, 4.0])


def test_introspection():
    v = K.variable(np.zeros((3, 4)), dtype="float64", name="w")
    assert K.is_variable(v) and not K.is_variable(v * 1) and not K.is_variable(np.ones(2))
    assert K.is_tensor(v) and K.is_tensor(v * 1)
    assert not K.is_tensor(np.ones(3)) and not K.is_tensor(1.0)
    assert not K.is_tensor(jnp.ones(3))  # concrete arrays are data, not graph tensors
    assert K.count_params(v) == 12 and K.get_variable_shape(v) == (3, 4)
    assert K.dtype(v) == "float64" and v.dtype == "float64"
    assert not K.is_sparse(v)
    assert K.int_shape(np.ones((2, 5))) == (2, 5)
    assert K.is_symbolic(v) and not K.is_symbolic(np.ones(2))


def test_uids_and_name_scope():
    K.reset_uids()
    assert [K.get_uid("dense"), K.get_uid("dense"), K.get_uid("conv")] == [1, 2, 1]
    K.reset_uids()
    assert K.get_uid("dense") == 1
    with K.name_scope("block"):
        with K.name_scope("dense_1"):
            v = K.variable(1.0, name="kernel")
    assert v.name == "block/dense_1/kernel:0"


def test_inference_error_names_op_and_shapes():
    a, b = K.placeholder((2, 3)), K.placeholder((4, 5))
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        a @ b


def test_none_dims_inferred():
    x = K.placeholder((None, None, 3))
    y = K.reshape(x, (K.shape(x)[0], -1))
    assert y.shape == (None, None)
    z = K.sum(x, axis=1)
    assert z.shape == (None, 3)
    f = K.function([x], [y, z])
    a = np.random.rand(2, 5, 3).astype(np.float32)
    got = f([a])
    np.testing.assert_allclose(got[0], a.reshape(2, -1))
    np.testing.assert_allclose(got[1], a.sum(1), rtol=1e-6)


def test_shape_inference_is_cached_by_op_inputs_and_config(monkeypatch):
    """The same op on inputs of the same shapes and dtypes, with the same static arguments
    and config, is traced for its shape once; any difference traces it again, and an input
    whose value matters (a shape tensor) is never cached."""
    from jkb import core
    runs = []
    real = core._run_trials
    monkeypatch.setattr(core, "_run_trials", lambda *a: runs.append(a[0].opname) or real(*a))
    monkeypatch.setattr(core, "_INFER_CACHE", {})
    x, y = K.placeholder((None, 3)), K.placeholder((None, 3))
    a = K.sum(x * 2.0, axis=1)
    assert len(runs) == 2
    b = K.sum(y * 2.0, axis=1)
    assert len(runs) == 2 and b.shape == a.shape == (None,) and b.dtype == np.float32
    np.testing.assert_allclose(K.function([y], [b])([np.ones((2, 3))])[0], [6.0, 6.0])
    assert K.sum(y * 2.0, axis=0).shape == (3,) and len(runs) == 3
    assert (K.placeholder((None, 4)) * 2.0).shape == (None, 4) and len(runs) == 4
    assert (K.placeholder((None, 3), dtype="float16") * 2.0).dtype == np.float16
    assert len(runs) == 5
    old = K.floatx()
    try:
        K.set_floatx("float16")
        y * 2.0
        assert len(runs) == 6
    finally:
        K.set_floatx(old)
    p = K.placeholder((6,))
    t1, t2 = K.shape(K.placeholder((2, 3))), K.shape(K.placeholder((3, 2)))
    assert K.reshape(p, t1).shape == (2, 3) and K.reshape(p, t2).shape == (3, 2)


def test_plain_mode_returns_arrays_and_works_under_jit_grad_vmap():
    x = jnp.arange(6.0).reshape(2, 3)
    out = K.softmax(K.dot(x, jnp.ones((3, 2))))
    assert isinstance(out, jax.Array) and not isinstance(out, Tensor)

    @jax.jit
    def f(x, w):
        h = K.relu(K.dot(x, w))
        return K.sum(K.reshape(h, (K.shape(h)[0], -1)))

    w = jnp.ones((3, 4))
    np.testing.assert_allclose(f(x, w), np.maximum(np.asarray(x) @ np.ones((3, 4)), 0).sum())
    g = jax.grad(lambda w: K.sum(K.square(K.dot(x, w))))(w)
    np.testing.assert_allclose(g, 2 * np.asarray(x).T @ (np.asarray(x) @ np.ones((3, 4))))
    v = jax.vmap(lambda r: K.sum(r * 2))(x)
    np.testing.assert_allclose(v, np.asarray(x).sum(1) * 2)


def test_shape_is_static_under_user_jit():
    @jax.jit
    def f(x):
        n = K.shape(x)[0]
        return K.reshape(x, (n * 2, -1))

    assert f(jnp.ones((3, 4))).shape == (6, 2)


def test_lifting_is_one_mechanism():
    square_plus = op(lambda a, b=1.0: a * a + b, name="square_plus")
    assert isinstance(square_plus(jnp.ones(2)), jax.Array)
    node = square_plus(K.placeholder((None,)), b=2.0)
    assert isinstance(node, Node) and node.name.startswith("square_plus")
    # lists of tensors make a node too
    total = op(lambda xs: sum(xs), name="total")([K.placeholder((2,)), jnp.ones(2)])
    assert isinstance(total, Node)


def test_constants_are_arguments_not_baked():
    big = np.random.rand(64, 64).astype(np.float32)
    p = K.placeholder((None, 64))
    f = K.function([p], [K.dot(p, big)])
    text = jax.jit(f._pure_flat, static_argnames=("training",)).lower(
        (), (), (np.ones((2, 64), np.float32),), f._consts, None).as_text()
    assert not any("constant" in line and "64x64" in line for line in text.splitlines())
    assert len(f._consts) == 1 and f._consts[0].shape == (64, 64)
    c = K.constant([[1.0, 2.0]])
    g = K.function([p], [c * 2])
    assert len(g._consts) == 1


def test_len_and_iteration():
    p = K.placeholder((3, 2))
    assert len(p) == 3 and len(list(p)) == 3
    with pytest.raises(TypeError):
        len(K.placeholder((None, 2)))


def test_unknown_dims_broadcast_against_known_ones():
    # Keras builds targets as placeholder(ndim=2) and subtracts them from (None, 10) outputs.
    y_true, y_pred = K.placeholder(ndim=2), K.placeholder((None, 10))
    d = K.square(y_pred - y_true)
    assert d.shape == (None, 10)
    got = K.function([y_true, y_pred], [d])([np.ones((2, 10)), np.zeros((2, 10))])[0]
    np.testing.assert_array_equal(got, np.ones((2, 10)))
    # a column of unknown size broadcasting against a row
    col = K.placeholder((None, None))
    out = col * np.arange(3.0)
    assert out.shape == (None, 3)
    got = K.function([col], [out])([np.ones((2, 1))])[0]
    np.testing.assert_array_equal(got, np.tile(np.arange(3.0), (2, 1)))


def test_control_dependencies_is_a_checked_context():
    v = K.variable(1.0)
    with K.control_dependencies([K.update_add(v, 1.0)]):
        out = v * 2
    assert K.eval(out) == 2.0
    with pytest.raises(TypeError, match="control_dependencies"):
        with K.control_dependencies(["not a tensor"]):
            pass


def test_uses_learning_phase_only_where_true():
    p = K.placeholder((2, 3))
    v = K.variable(np.ones(3))
    assert p._uses_learning_phase is False and v._uses_learning_phase is False
    y = p * v
    assert not hasattr(y, "_uses_learning_phase")  # as TF op outputs
    z = K.in_train_phase(y * 2, y) + 1
    assert z._uses_learning_phase is True


def test_size_is_static():
    x = K.placeholder((None, 3, 4))
    s = K.size(x)
    reps = K.tile(K.ones_like(x[:1]), K.cast(K.stack([1, s // 12, 1]), "int32"))
    got = K.function([x], [s, reps])([np.ones((5, 3, 4))])
    assert got[0] == 60 and got[0].dtype == np.int32 and got[1].shape == (1, 15, 4)
    assert K.size(jnp.ones((2, 3))) == 6


def test_int_shape_prefers_keras_shape():
    p = K.placeholder((2, 3))
    y = p * 1
    assert K.int_shape(y) == (2, 3)
    y._keras_shape = (None, 3)  # set by Keras' engine: it wins, as in Keras 2.3.1
    assert K.int_shape(y) == (None, 3) and K.ndim(y) == 2
    assert K.int_shape(K.variable(np.ones((4, 1)))) == (4, 1)
