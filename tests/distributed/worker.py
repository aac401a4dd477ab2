"""Multi-device scenarios, each run in its own process with simulated CPU devices.

``python worker.py SCENARIO NDEV OUT [ARGS...]`` sets ``NDEV`` CPU devices, runs the scenario
and writes what it measured to ``OUT`` (an ``.npz``); the assertions live in the tests
(tests/test_distribute.py). Every scenario computes the 1-device result in the same process
(``distribution=None`` runs on device 0 alone) beside the distributed one.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

SCENARIO, NDEV, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ARGS = sys.argv[4:]
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + f" --xla_force_host_platform_device_count={NDEV}")
os.environ.setdefault("KERAS_BACKEND", "jkb")
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="jkb-keras-home-"))

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_default_matmul_precision", "highest")

if SCENARIO == "multiprocess":  # jax.distributed must start before any backend does
    import jkb.distribute as D  # noqa: E402
    D.initialize(coordinator_address=ARGS[0], num_processes=int(ARGS[1]),
                 process_id=int(ARGS[2]))

import jkb as K  # noqa: E402
import jkb.distribute as D  # noqa: E402

results: dict = {}


def record(prefix, d):
    for k, v in d.items():
        results[f"{prefix}.{k}"] = np.asarray(v)


# ----------------------------------------------------------------------------- models


def keras_mlp(seed=0):
    import keras
    from keras.layers import BatchNormalization, Dense, Dropout
    K.set_random_seed(seed)
    np.random.seed(seed)
    return keras.models.Sequential([
        Dense(16, activation="relu", input_shape=(12,)),
        BatchNormalization(),
        Dropout(0.25),
        Dense(3, activation="softmax"),
    ])


def keras_cnn(seed=0):
    import keras
    from keras.layers import Conv2D, Dense, Flatten, MaxPooling2D
    K.set_random_seed(seed)
    np.random.seed(seed)
    return keras.models.Sequential([
        Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        MaxPooling2D(2),
        Flatten(),
        Dense(3, activation="softmax"),
    ])


def data(n, shape, seed=1):
    """Inputs and one-hot labels of a learnable rule (the largest of three random linear
    scores), so predictions grow confident rather than hovering at ties between classes."""
    rng = np.random.RandomState(seed)
    x = rng.randn(n, *shape).astype("float32")
    w = rng.randn(int(np.prod(shape)), 3)
    y = np.eye(3, dtype="float32")[np.argmax(x.reshape(n, -1) @ w, axis=1)]
    return x, y


def train(build, dist, n, shape, batch, epochs, compile_kwargs=False, predict_n=None):
    """Builds, trains (no shuffling) and evaluates one model; returns what to compare."""
    import keras
    K.clear_session()
    if dist is not None and not compile_kwargs:
        D.set_distribution(dist)
    try:
        model = build()
        kw = {"distribution": dist} if compile_kwargs and dist is not None else {}
        model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy",
                      metrics=["accuracy"], **kw)
        x, y = data(n, shape)
        hist = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=False, verbose=0)
        ev = model.evaluate(x, y, batch_size=batch, verbose=0)
        pred = model.predict(x[:predict_n or n], batch_size=batch)
        st = K.get_session()._state
        shardings = [st.values[w.uid].sharding for w in model.weights]
        out = {"loss": hist.history["loss"], "acc": hist.history["accuracy"],
               "eval": ev, "pred": pred}
        for i, w in enumerate(model.get_weights()):
            out[f"w{i}"] = w
        return out, model, shardings
    finally:
        D.set_distribution(None)


# ----------------------------------------------------------------------------- scenarios


def spy_feeds():
    """Records the sharding of every array a distributed K.function is fed."""
    seen = []
    orig = D.Distribution.put_feeds

    def put_feeds(self, feeds, names):
        out = orig(self, feeds, names)
        seen.extend((tuple(a.shape), tuple(a.sharding.spec), len(a.sharding.device_set))
                    for a in out)
        return out

    D.Distribution.put_feeds = put_feeds
    return seen


def scenario_data_parallel():
    seen = spy_feeds()
    for name, build, shape in (("mlp", keras_mlp, (12,)), ("cnn", keras_cnn, (8, 8, 1))):
        ref, _, _ = train(build, None, 256, shape, 32, 3)
        got, model, shardings = train(build, D.DataParallel(), 256, shape, 32, 3)
        record(f"{name}.ref", ref)
        record(f"{name}.dp", got)
        results[f"{name}.replicated"] = np.array(
            [s.is_fully_replicated and len(s.device_set) == NDEV for s in shardings])
    batch_split = [spec == ("batch",) + (None,) * (len(shape) - 1) and n == NDEV
                   for shape, spec, n in seen if len(shape) and shape[0] == 32]
    results["feeds.split"] = np.array(batch_split)
    # The same through model.compile(..., distribution=...), nothing set globally.
    got, _, _ = train(keras_mlp, D.DataParallel(), 256, (12,), 32, 3, compile_kwargs=True)
    record("mlp.compile_kw", got)


def _model_parallel(kernels=r"dense_[12]/kernel:0"):
    """A (2, NDEV/2) mesh; the matching dense kernels split by columns over "model"."""
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()).reshape(2, NDEV // 2),
                             ("batch", "model"))
    return D.ModelParallel(mesh, [(kernels, (None, "model"))])


def scenario_model_parallel():
    import keras
    from keras.layers import Dense

    def build():
        K.set_random_seed(0)
        np.random.seed(0)
        return keras.models.Sequential([Dense(16, activation="relu", input_shape=(12,)),
                                        Dense(8, activation="relu"),
                                        Dense(3, activation="softmax")])

    ref, _, _ = train(build, None, 256, (12,), 32, 3)
    got, model, _ = train(build, _model_parallel(), 256, (12,), 32, 3)
    record("ref", ref)
    record("mp", got)
    st = K.get_session()._state
    kernel = model.layers[0].kernel
    arr = st.values[kernel.uid]
    results["kernel.shard_shapes"] = np.array([s.data.shape for s in arr.addressable_shards])
    results["kernel.shape"] = np.array(arr.shape)


def scenario_uneven():
    ref, _, _ = train(keras_mlp, None, 1003, (12,), 64, 2)
    got, _, _ = train(keras_mlp, D.DataParallel(), 1003, (12,), 64, 2)
    record("ref", ref)
    record("dp", got)


def scenario_survives():
    """A variable's sharding survives set_value (also inside a user's jit), load_weights, a
    step, clear_session."""
    import keras
    dist = _model_parallel(r"dense_1/kernel:0")
    D.set_distribution(dist)

    def kernel_spec(model):
        return K.get_session()._state.values[model.layers[0].kernel.uid].sharding

    out = {}
    for rebuild in (0, 1):
        K.clear_session()
        model = keras.models.Sequential([keras.layers.Dense(8, input_shape=(12,)),
                                         keras.layers.Dense(3)])
        model.compile("sgd", "mse")
        out[f"created{rebuild}"] = kernel_spec(model)
        K.set_value(model.layers[0].kernel, np.ones((12, 8)))
        out[f"set_value{rebuild}"] = kernel_spec(model)
        # inside a user's trace: a concrete value still lands, concrete and split
        kernel = model.layers[0].kernel
        jax.jit(lambda t, k=kernel: (K.set_value(k, np.full((12, 8), 2.0)), t)[1])(np.zeros(1))
        out[f"set_value_in_jit{rebuild}"] = kernel_spec(model)
        results[f"in_jit_value{rebuild}"] = np.array(
            float(np.abs(K.get_value(model.layers[0].kernel) - 2.0).max()) == 0.0)
        path = os.path.join(tempfile.mkdtemp(), "w.h5")
        model.save_weights(path)
        model.load_weights(path)
        out[f"load_weights{rebuild}"] = kernel_spec(model)
        x, y = data(32, (12,))
        model.train_on_batch(x, y)
        out[f"step{rebuild}"] = kernel_spec(model)
    want = jax.sharding.NamedSharding(dist.mesh, jax.sharding.PartitionSpec(None, "model"))
    for k, s in out.items():
        results[f"same.{k}"] = np.array(s.is_equivalent_to(want, 2))


def scenario_pure():
    """f.pure under the user's own jax.jit with shardings equals the 1-device call."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P
    x = K.placeholder((None, 6))
    w = K.variable(np.random.RandomState(0).randn(6, 4), name="w")
    loss = K.mean(K.square(K.dot(x, w) - 1.0))
    f = K.function([x], [loss], updates=[K.update_sub(w, 0.1 * K.gradients(loss, [w])[0])])
    xs = np.random.RandomState(1).randn(16, 6).astype("float32")
    state = K.get_session().state
    (ref,), ref_state = f.pure(state, [xs])
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()), ("batch",))
    state = jax.device_put(state, NamedSharding(mesh, P()))
    xs_sharded = jax.device_put(xs, NamedSharding(mesh, P("batch")))
    step = jax.jit(lambda s, x: f.pure(s, [x]))
    (got,), got_state = step(state, xs_sharded)
    results["ref"] = np.asarray(ref)
    results["got"] = np.asarray(got)
    results["ref_w"] = np.asarray(ref_state[w])
    results["got_w"] = np.asarray(got_state[w])
    results["got_devices"] = np.array(len(got_state[w].sharding.device_set))


def scenario_api():
    """Layout and argument errors, and what a distribution leaves alone."""
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()).reshape(2, NDEV // 2),
                             ("batch", "model"))
    errors = {}

    def err(name, fn):
        try:
            fn()
            errors[name] = ""
        except (ValueError, TypeError) as e:
            errors[name] = f"{type(e).__name__}: {e}"

    two = D.ModelParallel(mesh, [(r"dense.*", (None, "model")), (r".*kernel:0", (None, None))])
    err("two_rules", lambda: two.variable_spec("dense_1/kernel:0", (4, 4)))
    one = D.ModelParallel(mesh, [(r".*kernel:0", (None, "model"))])
    err("rank", lambda: one.variable_spec("conv/kernel:0", (3, 3, 4)))
    err("divide", lambda: one.variable_spec("dense/kernel:0", (4, 6)))
    err("axis", lambda: D.ModelParallel(mesh, [("x", ("nope",))]))
    err("batch_axis", lambda: D.ModelParallel(mesh, [], batch_axis="data"))
    err("set_bad", lambda: D.set_distribution("mesh"))
    results["unmatched_replicated"] = np.array(
        one.variable_spec("dense/bias:0", (8,)) == jax.sharding.PartitionSpec())
    # set_distribution with a variable that does not fit changes nothing
    K.clear_session()
    v = K.variable(np.zeros((4, 6)), name="dense/kernel")
    err("set_layout", lambda: D.set_distribution(one))
    results["unchanged_after_error"] = np.array(
        D.get_distribution() is None
        and len(K.get_session()._state.values[v.uid].sharding.device_set) == 1)
    # existing variables move onto the mesh when a distribution is set
    w = K.variable(np.ones((4, 8)), name="dense/kernel_b")
    with D.DataParallel().scope():
        results["moved"] = np.array(
            len(K.get_session()._state.values[w.uid].sharding.device_set) == NDEV)
        results["scoped"] = np.array(isinstance(D.get_distribution(), D.DataParallel))
    results["restored"] = np.array(D.get_distribution() is None)
    # A sparse feed is placed whole (its index arrays do not follow the rows).
    import scipy.sparse
    sx = K.placeholder((None, 6), sparse=True)
    sw = K.variable(np.arange(12.0).reshape(6, 2))
    one = K.function([sx], [K.dot(sx, sw)])
    with D.DataParallel().scope():
        many = K.function([sx], [K.dot(sx, sw)])
    m = scipy.sparse.random(16, 6, density=0.3, format="csr", random_state=0)
    results["sparse_ref"], results["sparse_dp"] = one([m])[0], many([m])[0]
    results["errors"] = np.array(json.dumps(errors))


def scenario_checkpoint():
    """Save on a (2, 4) mesh; restore onto (8,) and onto one device; errors change nothing."""
    import jkb.checkpoint as C
    d = tempfile.mkdtemp()
    with _model_parallel().scope():
        K.clear_session()
        k = K.variable(np.arange(96.0).reshape(12, 8), name="dense_1/kernel")
        K.variable(np.arange(8.0), name="dense_1/bias")
        saved_k = K.get_value(k)
        C.save(os.path.join(d, "a"))
    for label, dist in (("dp", D.DataParallel()), ("one", None)):
        K.clear_session()
        D.set_distribution(dist)
        k = K.variable(np.zeros((12, 8)), name="dense_1/kernel")
        b = K.variable(np.zeros(8), name="dense_1/bias")
        C.restore(os.path.join(d, "a"))
        results[f"{label}.kernel"] = K.get_value(k)
        results[f"{label}.bias"] = K.get_value(b)
        results[f"{label}.devices"] = np.array(
            len(K.get_session()._state.values[k.uid].sharding.device_set))
        D.set_distribution(None)
    results["saved_kernel"] = saved_k
    # A missing variable, a wrong shape: a clear error and nothing changed.
    K.clear_session()
    k = K.variable(np.full((12, 8), 7.0), name="dense_1/kernel")
    b = K.variable(np.full((9,), 7.0), name="dense_1/bias")
    extra = K.variable(np.full((2,), 7.0), name="dense_9/kernel")
    try:
        C.restore(os.path.join(d, "a"))
        results["error"] = np.array("")
    except ValueError as e:
        results["error"] = np.array(str(e))
    results["unchanged"] = np.array(all(
        (K.get_value(v) == 7.0).all() for v in (k, b, extra)))


def _train_steps(first, last, restore_from=None):
    """Steps ``first..last-1`` of a K-level model with dropout and momentum; step ``i``
    trains on data drawn from seed ``i``. ``restore_from``: restore the state first."""
    import jkb.checkpoint as C
    K.clear_session()
    K.set_random_seed(5)
    x = K.placeholder((None, 6))
    y = K.placeholder((None, 1))
    w = K.variable(np.random.RandomState(0).randn(6, 8) * 0.3, name="dense_1/kernel")
    v = K.variable(np.random.RandomState(1).randn(8, 1) * 0.3, name="dense_2/kernel")
    m = [K.zeros((6, 8), name="m_w"), K.zeros((8, 1), name="m_v")]
    h = K.dropout(K.relu(K.dot(x, w)), 0.3)  # the session's stream: key and step
    h = h + K.random_normal((1, 8), stddev=0.01, seed=7)  # a seeded op: its draw counter
    loss = K.mean(K.square(K.dot(h, v) - y))
    grads = K.gradients(loss, [w, v])
    updates = []
    for p, g, mi in zip((w, v), grads, m):
        new_m = 0.9 * mi + g
        updates += [K.update(mi, new_m), K.update_sub(p, 0.05 * new_m)]
    f = K.function([x, y], [loss], updates=updates)
    if restore_from:
        C.restore(restore_from)
    losses = []
    for i in range(first, last):
        xs = np.random.RandomState(i).randn(16, 6).astype("float32")
        losses.append(f([xs, xs[:, :1] * 2.0])[0])
    results["losses"] = np.array(losses)
    for t in (w, v, *m):
        results[f"final.{t.name}"] = K.get_value(t)
    results["step"] = np.asarray(K.get_session()._state.step)
    results["key"] = np.asarray(K.get_session()._state.key)
    results["draws"] = np.array([int(c) for c in K.get_session()._state.draws.values()])


def scenario_resume():
    """ARGS: 'whole' (100 steps), 'first' DIR (50 steps, then save to DIR) or 'second'
    DIR (restore from DIR, 50 more steps)."""
    import jkb.checkpoint as C
    part = ARGS[0]
    if part == "whole":
        _train_steps(0, 100)
    elif part == "first":
        _train_steps(0, 50)
        C.save(ARGS[1])
    else:
        _train_steps(50, 100, restore_from=ARGS[1])


def _mp_distribution(kind):
    """'dp': DataParallel; 'mp': a (2, n/2) mesh, the first kernel split over "model"."""
    if kind == "dp":
        return D.DataParallel()
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()).reshape(2, -1), ("batch", "model"))
    return D.ModelParallel(mesh, [(r"dense_1/kernel:0", (None, "model"))])


def _mp_train(kind, rows, batch, weights_path):
    import keras
    D.set_distribution(_mp_distribution(kind))
    model = keras_mlp()
    model.compile(keras.optimizers.Adam(0.01), "categorical_crossentropy")
    x, y = data(256, (12,))
    hist = model.fit(x[rows], y[rows], batch_size=batch, epochs=2, shuffle=False, verbose=0)
    model.save_weights(weights_path)
    results["loss"] = np.array(hist.history["loss"])
    for i, w in enumerate(model.get_weights()):
        results[f"w{i}"] = w
    kernel = K.get_session()._state.values[model.layers[0].kernel.uid]
    results["kernel_replicated"] = np.array(kernel.is_fully_replicated)


def scenario_multiprocess():
    """One of several processes; ARGS = coordinator, nprocs, pid, weights dir, kind.
    Each process feeds its share of every global batch of 64 rows and saves the weights
    to ``weights_<pid>.h5`` (only the chief's file may appear)."""
    nprocs, pid, wdir, kind = int(ARGS[1]), int(ARGS[2]), ARGS[3], ARGS[4]
    per = 64 // nprocs
    rows = np.concatenate([np.arange(i * 64 + pid * per, i * 64 + (pid + 1) * per)
                           for i in range(4)])
    _mp_train(kind, rows, per, os.path.join(wdir, f"weights_{pid}.h5"))
    results["chief"] = np.array(D.is_chief())


def scenario_multiprocess_ref():
    """The same global batches of 64 in one process on NDEV devices; ARGS = dir, kind."""
    _mp_train(ARGS[1], np.arange(256), 64, os.path.join(ARGS[0], "weights_ref.h5"))


if __name__ == "__main__":
    globals()[f"scenario_{SCENARIO}"]()
    np.savez(OUT, **results)
