"""The classic Keras-backend walkthrough, step by step, on jkb.

Run with `make demo` (or `python examples/walkthrough.py`).
"""

import numpy as np

import jkb as K


def show(title, value):
    print(f"{title:<46} {value}")


print(f"backend: {K.backend()}  floatx: {K.floatx()}  epsilon: {K.epsilon()}  "
      f"image_data_format: {K.image_data_format()}")

# Placeholders: fixed, None and ndim shapes.
show("placeholder(shape=(2, 4, 5))", K.int_shape(K.placeholder(shape=(2, 4, 5))))
show("placeholder(shape=(None, 4, 5))", K.int_shape(K.placeholder(shape=(None, 4, 5))))
show("placeholder(ndim=3)", K.int_shape(K.placeholder(ndim=3)))

# Variables, and a variable plus a placeholder evaluated with feed_dict.
val = np.random.random((3, 4, 5))
var = K.variable(value=val)
show("variable(random (3,4,5)) dtype", K.dtype(var))
show("zeros((3, 4, 5)) sum", K.eval(K.sum(K.zeros(shape=(3, 4, 5)))))
show("ones((3, 4, 5)) sum", K.eval(K.sum(K.ones(shape=(3, 4, 5)))))
x = K.placeholder(shape=(3, 4, 5))
fed = (var + x).eval(feed_dict={x: np.ones((3, 4, 5))})
show("(var + x).eval(feed_dict={x: ones}) - var", np.allclose(fed - val, 1.0))

# Random variables with seeds.
b = K.random_uniform_variable(shape=(3, 4), low=0, high=1, seed=1)
c = K.random_normal_variable(shape=(3, 4), mean=0, scale=1, seed=2)
d = K.random_normal_variable(shape=(3, 4), mean=0, scale=1, seed=3)
show("random_uniform_variable in [0, 1)",
     bool(((K.eval(b) >= 0) & (K.eval(b) < 1)).all()))

# Tensor arithmetic.
a = b + c * K.abs(d)
show("b + c * |d| shape", K.int_shape(a))
show("dot(a, transpose(b)) shape", K.int_shape(K.dot(a, K.transpose(b))))
show("sum(b, axis=1)", np.round(K.eval(K.sum(b, axis=1)), 3))
show("softmax(b) rows sum to 1", np.allclose(K.eval(K.sum(K.softmax(b), axis=-1)), 1.0))
show("concatenate([b, c], axis=-1) shape", K.int_shape(K.concatenate([b, c], axis=-1)))

kvar = K.variable(np.ones((8,)))
show("K.eval(K.shape(variable(ones(8))))", K.eval(K.shape(kvar)))

# The nD dot rule (Theano-style): (2, 3) . (4, 3, 5) -> (2, 4, 5).
xa, xb = K.ones((2, 3)), K.ones((4, 3, 5))
show("dot((2, 3), (4, 3, 5)) shape", K.int_shape(K.dot(xa, xb)))
xc, xd = K.placeholder((3, 4)), K.placeholder((2, 4, 5))
show("dot((3, 4), (2, 4, 5)) shape", K.int_shape(K.dot(xc, xd)))

# Config.
K.set_epsilon(1e-5)
show("set_epsilon(1e-5); epsilon()", K.epsilon())
K.set_epsilon(1e-7)

# Learning phase.
show("learning_phase()", K.learning_phase())
inp = K.placeholder((None, 4))
out = K.in_train_phase(K.dropout(inp, 0.5), inp)
f = K.function([inp, K.learning_phase()], [out])
show("dropout at test time (phase 0) is identity", np.array_equal(
    f([np.ones((2, 4)), 0])[0], np.ones((2, 4))))
show("dropout at train time (phase 1) zeros some", bool((f([np.ones((2, 4)), 1])[0] == 0).any()))

# Updates.
v = K.variable(np.array([1.0, 2.0, 3.0]))
show("update(v, v * 2).eval()", K.update(v, v * 2).eval())
show("get_value(v) after it", K.get_value(v))
K.eval(K.moving_average_update(v, np.zeros(3), 0.9))
show("moving_average_update(v, 0, 0.9)", np.round(K.get_value(v), 4))

K.set_learning_phase(1)
show("set_learning_phase(1); learning_phase()", K.learning_phase())
K.clear_session()
show("clear_session(); learning_phase() restored", K.learning_phase())
print("walkthrough done")
