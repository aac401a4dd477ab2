"""The benchmark models, written twice: the Keras-2 way on jkb, and by hand in pure JAX.

* ``mlp``: 784-512-512-10, ReLU, dropout 0.2 after each hidden layer, softmax,
  categorical crossentropy.
* ``cnn``: 28x28x1 -> conv 3x3x32 (valid) -> ReLU -> maxpool 2 -> conv 3x3x64 -> ReLU ->
  maxpool 2 -> flatten -> dense 10 -> softmax, categorical crossentropy.

Both sides start from the same NumPy initial values and train on the same NumPy batches.
The jkb side is what a Keras 2.3.1 training function does: placeholders, ``K.gradients``,
Adam written with ``K.update`` ops (Keras 2.3.1's formula), one ``K.function`` with
``K.learning_phase()`` among its inputs. The JAX side is a hand-written step with
``optax.adam``, jitted, parameters, optimizer state and PRNG key donated.
"""

from __future__ import annotations

import numpy as np

LR, BETA_1, BETA_2, EPS = 1e-3, 0.9, 0.999, 1e-7
DROPOUT = 0.2


def _glorot(rng, shape, fan_in, fan_out):
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-lim, lim, shape).astype(np.float32)


def init_params(model: str, seed: int = 0):
    """The initial parameter values (NumPy float32), in layer order."""
    rng = np.random.default_rng(seed)
    if model == "mlp":
        dims = [784, 512, 512, 10]
        out = []
        for a, b in zip(dims[:-1], dims[1:]):
            out += [_glorot(rng, (a, b), a, b), np.zeros(b, np.float32)]
        return out
    if model == "cnn":
        return [_glorot(rng, (3, 3, 1, 32), 9, 9 * 32), np.zeros(32, np.float32),
                _glorot(rng, (3, 3, 32, 64), 9 * 32, 9 * 64), np.zeros(64, np.float32),
                _glorot(rng, (1600, 10), 1600, 10), np.zeros(10, np.float32)]
    raise ValueError(model)


def input_shape(model: str):
    return (784,) if model == "mlp" else (28, 28, 1)


def make_data(model: str, n: int, seed: int = 1):
    """``n`` samples: inputs in [0, 1) and one-hot labels of 10 classes."""
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + input_shape(model), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    return x, y


# ----------------------------------------------------------------------------- jkb


def jkb_forward(model, x, params, training):
    """The model's output on jkb tensors; dropout only in the training phase."""
    import jkb as K

    if model == "mlp":
        W1, b1, W2, b2, W3, b3 = params
        h = K.relu(K.bias_add(K.dot(x, W1), b1))
        h = K.in_train_phase(lambda: K.dropout(h, DROPOUT), h, training=training)
        h = K.relu(K.bias_add(K.dot(h, W2), b2))
        h = K.in_train_phase(lambda: K.dropout(h, DROPOUT), h, training=training)
        return K.softmax(K.bias_add(K.dot(h, W3), b3))
    k1, c1, k2, c2, W, b = params
    h = K.relu(K.bias_add(K.conv2d(x, k1, padding="valid"), c1))
    h = K.pool2d(h, (2, 2), strides=(2, 2), pool_mode="max")
    h = K.relu(K.bias_add(K.conv2d(h, k2, padding="valid"), c2))
    h = K.pool2d(h, (2, 2), strides=(2, 2), pool_mode="max")
    h = K.batch_flatten(h)
    return K.softmax(K.bias_add(K.dot(h, W), b))


def keras2_adam_updates(loss, params):
    """Keras 2.3.1's ``Adam.get_updates`` (amsgrad off, decay 0) with K ops."""
    import jax

    import jkb as K

    # Keras 2.3.1 turns x64 on and counts in int64; K code run without Keras (x64 off,
    # jkb's default) counts in int32, as such code must
    iterations = K.variable(0, dtype="int64" if jax.config.jax_enable_x64 else "int32",
                            name="iterations")
    lr = K.variable(LR, name="lr")
    beta_1 = K.variable(BETA_1, name="beta_1")
    beta_2 = K.variable(BETA_2, name="beta_2")
    grads = K.gradients(loss, params)
    updates = [K.update_add(iterations, 1)]
    t = K.cast(iterations, K.floatx()) + 1
    lr_t = lr * (K.sqrt(1.0 - K.pow(beta_2, t)) / (1.0 - K.pow(beta_1, t)))
    ms = [K.zeros(K.int_shape(p), dtype=K.dtype(p)) for p in params]
    vs = [K.zeros(K.int_shape(p), dtype=K.dtype(p)) for p in params]
    for p, g, m, v in zip(params, grads, ms, vs):
        m_t = (beta_1 * m) + (1.0 - beta_1) * g
        v_t = (beta_2 * v) + (1.0 - beta_2) * K.square(g)
        p_t = p - lr_t * m_t / (K.sqrt(v_t) + EPS)
        updates += [K.update(m, m_t), K.update(v, v_t), K.update(p, p_t)]
    return updates, lr


def jkb_train_function(model, init):
    """(K.function([x, y, learning_phase], [loss], updates=adam), params, lr variable)."""
    import jkb as K

    x = K.placeholder((None,) + input_shape(model), name="x")
    y = K.placeholder((None, 10), name="y")
    params = [K.variable(v) for v in init]
    out = jkb_forward(model, x, params, training=None)
    loss = K.mean(K.categorical_crossentropy(y, out))
    updates, lr = keras2_adam_updates(loss, params)
    f = K.function([x, y, K.learning_phase()], [loss], updates=updates)
    return f, params, lr


# ----------------------------------------------------------------------------- JAX


def jax_forward(model, params, x, key):
    """The same model in plain JAX; ``key=None`` means test mode (no dropout)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def dropout(h, k):
        keep = 1.0 - DROPOUT
        mask = jax.random.bernoulli(k, keep, h.shape)
        return jnp.where(mask, h / keep, 0.0)

    if model == "mlp":
        W1, b1, W2, b2, W3, b3 = params
        h = jax.nn.relu(x @ W1 + b1)
        if key is not None:
            k1, k2 = jax.random.split(key)
            h = dropout(h, k1)
        h = jax.nn.relu(h @ W2 + b2)
        if key is not None:
            h = dropout(h, k2)
        return jax.nn.softmax(h @ W3 + b3)
    k1, c1, k2, c2, W, b = params
    dn = ("NHWC", "HWIO", "NHWC")

    def pool(h):
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    h = pool(jax.nn.relu(lax.conv_general_dilated(x, k1, (1, 1), "VALID",
                                                  dimension_numbers=dn) + c1))
    h = pool(jax.nn.relu(lax.conv_general_dilated(h, k2, (1, 1), "VALID",
                                                  dimension_numbers=dn) + c2))
    h = h.reshape(h.shape[0], -1)
    return jax.nn.softmax(h @ W + b)


def crossentropy(y, out):
    """Keras' categorical crossentropy on probabilities (renormalized, clipped)."""
    import jax.numpy as jnp

    out = out / jnp.sum(out, axis=-1, keepdims=True)
    out = jnp.clip(out, EPS, 1.0 - EPS)
    return -jnp.sum(y * jnp.log(out), axis=-1)


def jax_train_step(model, init, seed=0):
    """A ``call(x, y) -> loss (NumPy)`` closure over donated params/opt state/key."""
    import jax
    import jax.numpy as jnp
    import optax

    opt = optax.adam(LR, b1=BETA_1, b2=BETA_2, eps=EPS)
    training = model == "mlp"

    def loss_fn(params, x, y, key):
        out = jax_forward(model, params, x, key if training else None)
        return jnp.mean(crossentropy(y, out))

    def step(params, opt_state, key, x, y):
        key, sub = jax.random.split(key)
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y, sub)
        upd, opt_state = opt.update(grads, opt_state, params)
        return loss, optax.apply_updates(params, upd), opt_state, key

    jitted = jax.jit(step, donate_argnums=(0, 1, 2))
    params = [jnp.array(v) for v in init]
    st = [params, opt.init(params), jax.random.key(seed)]

    def call(x, y):
        loss, st[0], st[1], st[2] = jitted(st[0], st[1], st[2], x, y)
        return np.asarray(loss)

    return call, st
