"""Sparse tensors: BCOO conversion, sparse placeholders fed with scipy matrices, sparse
variables, is_sparse / to_dense, and the sparse paths of K.dot and K.concatenate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from jax.experimental.sparse import BCOO

import jkb as K
from jkb.sparse import to_bcoo


def _mat(rows, cols, density, seed, fmt="csr", dtype=np.float64):
    return sp.random(rows, cols, density=density, format=fmt, dtype=dtype,
                     random_state=seed)


# ----------------------------------------------------------------------------- to_bcoo


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_to_bcoo_from_scipy(fmt, dtype):
    m = _mat(4, 6, 0.4, 0, fmt)
    b = to_bcoo(m, dtype)
    assert isinstance(b, BCOO) and b.shape == (4, 6) and b.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(b.todense(), m.toarray().astype(dtype))


def test_to_bcoo_pads_nse_to_a_power_of_two():
    for nnz, nse in [(0, 1), (1, 1), (2, 2), (3, 4), (5, 8), (8, 8), (9, 16)]:
        m = sp.coo_matrix((np.arange(1, nnz + 1, dtype=np.float32),
                           (np.arange(nnz) // 5, np.arange(nnz) % 5)), shape=(2, 5))
        b = to_bcoo(m)
        assert b.nse == nse, (nnz, b.nse)
        assert b.dtype == np.float32  # dtype=None keeps the matrix's dtype
        np.testing.assert_array_equal(b.todense(), m.toarray())


def test_to_bcoo_sums_duplicates():
    m = sp.coo_matrix(([1.0, 2.0, 5.0], ([0, 0, 1], [1, 1, 2])), shape=(2, 3))
    b = to_bcoo(m, "float32")
    np.testing.assert_array_equal(b.todense(), [[0, 3, 0], [0, 0, 5]])
    assert b.nse == 2


def test_to_bcoo_from_dense_and_bcoo():
    a = np.array([[0, 1.5, 0], [2, 0, 0]])
    b = to_bcoo(a, "float32")
    assert b.dtype == np.float32 and b.nse == 2
    np.testing.assert_array_equal(b.todense(), a.astype(np.float32))
    assert to_bcoo(b, "float32") is b
    b64 = to_bcoo(b, "float64")
    assert b64.dtype == np.float64
    np.testing.assert_array_equal(b64.todense(), a)
    np.testing.assert_array_equal(to_bcoo(jnp.asarray(a)).todense(), a)
    # a traced dense value has an unknown non-zero count: every element is stored
    traced = jax.jit(lambda x: to_bcoo(x).todense() * 2)(a)
    np.testing.assert_array_equal(traced, 2 * a)


def test_to_bcoo_errors():
    with pytest.raises(TypeError, match="to_bcoo: cannot convert the symbolic tensor"):
        to_bcoo(K.placeholder((2, 2)))
    with pytest.raises(TypeError, match="to_bcoo: cannot make a sparse"):
        to_bcoo(object(), "float32")
    with pytest.raises(ValueError, match="needs rank >= 1"):
        to_bcoo(np.float32(3))


def test_runtime_code_imports_scipy_lazily():
    import jkb.sparse as S
    src = open(S.__file__).read()
    assert "import scipy" not in src and "from scipy" not in src


# ----------------------------------------------------------------------------- is_sparse / to_dense


def test_is_sparse():
    assert K.is_sparse(K.placeholder((None, 3), sparse=True))
    assert not K.is_sparse(K.placeholder((None, 3)))
    assert K.is_sparse(K.variable(_mat(3, 4, 0.5, 1)))
    assert not K.is_sparse(K.variable(np.ones((3, 4))))
    assert K.is_sparse(to_bcoo(np.eye(3)))
    assert not K.is_sparse(np.eye(3))
    assert not K.is_sparse(jnp.eye(3))


def test_to_dense_values():
    a = np.array([[0, 1.0], [3, 0]], np.float32)
    d = K.to_dense(to_bcoo(a))
    assert isinstance(d, jax.Array)
    np.testing.assert_array_equal(d, a)
    assert K.to_dense(a) is a  # dense input comes back unchanged
    j = jnp.asarray(a)
    assert K.to_dense(j) is j


def test_to_dense_tensors():
    x = K.placeholder((None, 4))
    assert K.to_dense(x) is x
    v = K.variable(np.ones((2, 2)))
    assert K.to_dense(v) is v
    p = K.placeholder((None, 4), sparse=True)
    d = K.to_dense(p)
    assert d is not p and not K.is_sparse(d)
    assert K.int_shape(d) == (None, 4) and K.dtype(d) == "float32"
    m = _mat(3, 4, 0.5, 2)
    out = K.function([p], [d])([m])[0]
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, m.toarray(), rtol=1e-6)
    # other ops see the dense values
    out = K.function([p], [K.to_dense(p) * 2 + 1])([m])[0]
    np.testing.assert_allclose(out, m.toarray() * 2 + 1, rtol=1e-6)


# ----------------------------------------------------------------------------- variables


def test_sparse_variable_eval_and_get_value():
    m = _mat(5, 3, 0.4, 3)
    v = K.variable(m)
    assert K.is_sparse(v) and K.int_shape(v) == (5, 3) and K.dtype(v) == "float32"
    for value in (K.eval(v), K.get_value(v)):
        assert isinstance(value, np.ndarray) and value.dtype == np.float32
        np.testing.assert_allclose(value, m.toarray(), rtol=1e-6)
    v64 = K.variable(m, dtype="float64")
    np.testing.assert_array_equal(K.eval(v64), m.toarray())
    np.testing.assert_allclose(K.eval(K.to_dense(v)), m.toarray(), rtol=1e-6)


def test_sparse_variable_dot_eval():
    m = _mat(4, 6, 0.5, 4)
    w = np.random.default_rng(0).standard_normal((6, 2)).astype(np.float32)
    out = K.eval(K.dot(K.variable(m), K.variable(w)))
    np.testing.assert_allclose(out, m.toarray() @ w, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- placeholders


def test_sparse_placeholder_dot_dense_variable():
    p = K.placeholder((None, 6), sparse=True)
    w_val = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    w = K.variable(w_val)
    out = K.dot(p, w)
    assert K.int_shape(out) == (None, 3) and not K.is_sparse(out)
    f = K.function([p], [out])
    for seed, rows in [(0, 5), (1, 2)]:
        m = _mat(rows, 6, 0.3, seed)
        np.testing.assert_allclose(f([m])[0], m.toarray() @ w_val, rtol=1e-5, atol=1e-6)
    # a dense array fed to a sparse placeholder is converted as well
    dense = np.eye(6, dtype=np.float32)[:2]
    np.testing.assert_allclose(f([dense])[0], w_val[:2], rtol=1e-6)


def test_sparse_feeds_share_a_compiled_program():
    # non-zero counts in the same power-of-two bucket reuse the traced program
    p = K.placeholder((None, 8), sparse=True)
    w = K.variable(np.ones((8, 1)))
    f = K.function([p], [K.dot(p, w)])
    for nnz in (5, 6, 7, 8):
        m = sp.coo_matrix((np.ones(nnz), (np.zeros(nnz, int), np.arange(nnz))), shape=(4, 8))
        np.testing.assert_allclose(f([m])[0], [[nnz], [0], [0], [0]])
    assert f.trace_count == 1


def test_sparse_dot_gradient_wrt_dense_weights():
    p = K.placeholder((None, 5), sparse=True)
    w = K.variable(np.ones((5, 2)))
    loss = K.sum(K.dot(p, w))
    g = K.gradients(loss, [w])[0]
    m = _mat(3, 5, 0.5, 5)
    got = K.function([p], [g])([m])[0]
    np.testing.assert_allclose(got, np.repeat(m.toarray().sum(0)[:, None], 2, 1), rtol=1e-5)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_sparse_placeholders(axis):
    p = K.placeholder((None, 4), sparse=True)
    q = K.placeholder((None, 4), sparse=True)
    out = K.concatenate([p, q], axis=axis)
    want_static = (None, 4) if axis == 0 else (None, 8)
    assert K.int_shape(out) == want_static
    a, b = _mat(3, 4, 0.5, 6), _mat(3, 4, 0.5, 7, fmt="coo")
    got = K.function([p, q], [out])([a, b])[0]  # a sparse output comes back dense
    want = np.concatenate([a.toarray(), b.toarray()], axis=axis).astype(np.float32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # densify explicitly, then keep computing
    got = K.function([p, q], [K.to_dense(out) + 1])([a, b])[0]
    np.testing.assert_allclose(got, want + 1, rtol=1e-6)


def test_concatenate_sparse_and_dense():
    p = K.placeholder((None, 4), sparse=True)
    x = K.placeholder((None, 2))
    out = K.concatenate([p, x])
    assert K.int_shape(out) == (None, 6)
    a = _mat(3, 4, 0.5, 8)
    d = np.arange(6, dtype=np.float32).reshape(3, 2)
    got = K.function([p, x], [out])([a, d])[0]
    np.testing.assert_allclose(got, np.hstack([a.toarray(), d]), rtol=1e-6)


def test_concatenate_bcoo_values():
    a, b = to_bcoo(np.eye(2)), to_bcoo(np.ones((1, 2)))
    out = K.concatenate([a, b], axis=0)
    assert isinstance(out, BCOO) and K.is_sparse(out)
    np.testing.assert_array_equal(K.to_dense(out), [[1, 0], [0, 1], [1, 1]])


def test_sparse_dot_shape_error():
    with pytest.raises(ValueError, match="dot"):
        K.dot(K.placeholder((None, 4), sparse=True), K.variable(np.ones((3, 2))))
