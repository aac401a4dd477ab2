"""A Keras-2-style training loop on jkb: logistic regression on generated data.

Placeholders, K.gradients, a list of K.update ops and one K.function: the step is traced
once, compiled with jax.jit, and the updated variables' buffers are donated each call.
"""

import numpy as np

import jkb as K

rng = np.random.RandomState(0)
n, dim = 512, 10
true_w = rng.randn(dim, 1)
X = rng.randn(n, dim).astype("float32")
Y = (X @ true_w + 0.3 * rng.randn(n, 1) > 0).astype("float32")

x = K.placeholder((None, dim))
y = K.placeholder((None, 1))
w = K.variable(np.zeros((dim, 1)), name="w")
b = K.variable(0.0, name="b")
lr = K.variable(0.5, name="lr")

prob = K.sigmoid(K.dot(x, w) + b)
loss = K.mean(K.binary_crossentropy(y, prob))
acc = K.mean(K.cast(K.equal(K.cast(prob > 0.5, "float32"), y), "float32"))
gw, gb = K.gradients(loss, [w, b])
train = K.function([x, y], [loss, acc], updates=[K.update_sub(w, lr * gw),
                                                 K.update_sub(b, lr * gb)])

evaluate = K.function([x, y], [loss, acc])
for epoch in range(1, 31):
    for i in range(0, n, 64):
        batch_loss, batch_acc = train([X[i:i + 64], Y[i:i + 64]])
    if epoch % 5 == 0 or epoch == 1:
        full_loss, full_acc = evaluate([X, Y])
        print(f"epoch {epoch:2d}  loss {full_loss:.4f}  accuracy {full_acc:.3f}")
print(f"compiled {train.trace_count} time(s) for {30 * (n // 64)} steps")
