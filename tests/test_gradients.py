"""K.gradients: variables, placeholders, inner tensors, one vjp per call, second order."""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jkb as K
from jkb.core import op

F = importlib.import_module("jkb.function")  # the attribute jkb.function is K.function
_sum = op(jnp.sum, name="sum_")


def test_gradients_wrt_variables_placeholders_and_inner():
    w = K.variable(np.array([[1.0, 2.0], [3.0, 4.0]]))
    x = K.placeholder((None, 2))
    h = K.dot(x, w)
    loss = _sum(h * h)
    gw, gx, gh = K.gradients(loss, [w, x, h])
    assert gw.shape == (2, 2) and gx.shape == (None, 2) and gh.shape == (None, 2)
    a = np.array([[1.0, -1.0], [0.5, 2.0]], np.float32)
    got = K.function([x], [gw, gx, gh])([a])
    W = K.get_value(w)
    H = a @ W
    np.testing.assert_allclose(got[0], 2 * a.T @ H, rtol=1e-5)
    np.testing.assert_allclose(got[1], 2 * H @ W.T, rtol=1e-5)
    np.testing.assert_allclose(got[2], 2 * H, rtol=1e-5)


def test_single_target_and_nonscalar_loss_is_summed():
    w = K.variable(np.array([1.0, 2.0, 3.0]))
    g = K.gradients(w * w, w)
    assert not isinstance(g, list)
    np.testing.assert_allclose(K.eval(g), [2.0, 4.0, 6.0])


def test_unconnected_target_gets_zeros():
    a, b = K.variable(1.0), K.variable(np.ones(2))
    ga, gb = K.gradients(a * 3.0, [a, b])
    assert K.eval(ga) == 3.0
    np.testing.assert_array_equal(K.eval(gb), np.zeros(2))


def test_one_vjp_per_call(monkeypatch):
    calls = []
    real = jax.vjp

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(F.jax, "vjp", counting)
    ws = [K.variable(np.full((3,), float(i))) for i in range(5)]
    x = K.placeholder((3,))
    loss = _sum(sum((w * x for w in ws[1:]), ws[0] * x))
    grads = K.gradients(loss, ws)
    f = K.function([x], grads)
    f([np.ones(3)])
    assert len(calls) == 1  # traced once, one vjp for all five targets
    calls.clear()
    f([np.ones(3)])
    assert len(calls) == 0  # cached program


def test_second_order():
    x = K.placeholder(())
    y = x * x * x
    (g,) = K.gradients(y, [x])
    (gg,) = K.gradients(g, [x])
    f = K.function([x], [g, gg])
    g_val, gg_val = f([2.0])
    assert g_val == pytest.approx(12.0) and gg_val == pytest.approx(12.0)


def test_hessian_vector_style_mixed_targets():
    w = K.variable(np.array([1.0, 2.0]))
    x = K.placeholder((2,))
    loss = _sum(K.exp(w * x))
    (gw,) = K.gradients(loss, [w])
    (gx,) = K.gradients(_sum(gw), [x])
    a = np.array([0.5, -0.25], np.float32)
    W = K.get_value(w)
    # d/dx sum_i x_i exp(w_i x_i) = exp(w x) (1 + w x)
    np.testing.assert_allclose(K.function([x], [gx])([a])[0],
                               np.exp(W * a) * (1 + W * a), rtol=1e-5)


def test_stop_gradient_single_and_list():
    w = K.variable(np.array([1.0, 2.0]))
    loss = _sum(w * K.stop_gradient(w))
    np.testing.assert_allclose(K.eval(K.gradients(loss, [w])[0]), [1.0, 2.0])
    out = K.stop_gradient([w, w * 2])
    assert isinstance(out, list) and len(out) == 2
    np.testing.assert_allclose(K.eval(out[1]), [2.0, 4.0])
    np.testing.assert_allclose(K.stop_gradient(jnp.ones(2)), [1.0, 1.0])


def test_gradient_errors():
    with pytest.raises(TypeError, match="symbolic"):
        K.gradients(jnp.ones(()), [K.variable(1.0)])
    with pytest.raises(TypeError, match="targets"):
        K.gradients(K.variable(1.0) * 2, [np.ones(2)])


def test_sgd_with_gradients_and_updates_learns():
    rng = np.random.RandomState(0)
    X = rng.randn(64, 3).astype(np.float32)
    true_w = np.array([[1.0], [-2.0], [0.5]], np.float32)
    Y = X @ true_w
    w = K.variable(np.zeros((3, 1)))
    x, y = K.placeholder((None, 3)), K.placeholder((None, 1))
    loss = K.mean(K.square(K.dot(x, w) - y))
    (g,) = K.gradients(loss, [w])
    step = K.function([x, y], [loss], updates=[K.update_sub(w, 0.1 * g)])
    losses = [step([X, Y])[0] for _ in range(100)]
    assert losses[-1] < 1e-4 < losses[0]
    np.testing.assert_allclose(K.get_value(w), true_w, atol=1e-2)
