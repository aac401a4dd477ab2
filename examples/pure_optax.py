"""The pure form of a K.function under jax.jit + jax.grad, trained with optax.

A Keras-style graph (placeholders, variables, dropout) is built once; ``f.pure(state,
inputs, training)`` is the same program as a pure function of an explicit ``State``. The
training step differentiates it with respect to ``state.trainable()`` (the trainable float
variables, keyed by their names), applies an optax update and writes the parameters back
with ``state.replace``. The random state (dropout) advances inside the returned state.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jkb as K

rng = np.random.RandomState(0)
n, dim, hidden = 512, 10, 16
true_w = rng.randn(dim, 1)
X = rng.randn(n, dim).astype("float32")
Y = (X @ true_w > 0).astype("float32")

x = K.placeholder((None, dim))
y = K.placeholder((None, 1))
w1 = K.variable(rng.randn(dim, hidden) * 0.3, name="w1")
b1 = K.variable(np.zeros(hidden), name="b1")
w2 = K.variable(rng.randn(hidden, 1) * 0.3, name="w2")
h = K.in_train_phase(lambda: K.dropout(K.relu(K.dot(x, w1) + b1), 0.1),
                     lambda: K.relu(K.dot(x, w1) + b1))
prob = K.sigmoid(K.dot(h, w2))
loss = K.mean(K.binary_crossentropy(y, prob))
f = K.function([x, y], [loss])  # no updates: the optimizer is optax's

opt = optax.adam(0.05)
state = K.get_session().state
opt_state = opt.init(state.trainable())


def loss_fn(params, state, xb, yb):
    (value,), new_state = f.pure(state.replace(params), [xb, yb], training=1)
    return value, new_state


@jax.jit
def train_step(state, opt_state, xb, yb):
    params = state.trainable()  # {"w1:0": ..., "b1:0": ..., "w2:0": ...}
    (value, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, xb, yb)
    updates, opt_state = opt.update(grads, opt_state, params)
    return state.replace(optax.apply_updates(params, updates)), opt_state, value


evaluate = jax.jit(f.pure, static_argnames="training")

for epoch in range(8):
    for i in range(0, n, 64):
        state, opt_state, _ = train_step(state, opt_state, X[i:i + 64], Y[i:i + 64])
    (test_loss,), _ = evaluate(state, [X, Y], training=0)
    print(f"epoch {epoch} loss {float(test_loss):.4f}")

K.get_session().state = state  # back into the session: K.function and K.eval see it
acc = np.mean((K.function([x], [prob])([X])[0] > 0.5) == Y)
print(f"accuracy {acc:.3f}; trainable: {sorted(state.trainable())}")
assert jnp.result_type(state["w1"]) == jnp.float32
