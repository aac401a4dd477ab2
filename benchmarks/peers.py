"""Keras 2.3.1 ``fit`` on jkb vs tf_keras 2.21 ``fit`` on TensorFlow (CPU, oneDNN).

The same three models, the same initial weights, the same data, Adam(1e-3), categorical
crossentropy, ``fit(verbose=0, shuffle=True)``:

* ``mlp``: 784-512-512-10 with dropout 0.2 (as keras_fit.py), batch 128;
* ``cnn``: the small CNN of keras_fit.py (conv 3x3x32, pool, conv 3x3x64, pool, dense 10),
  28x28x1, batch 128;
* ``cifar_cnn``: 32x32x3, conv 3x3x32 ('same') and 3x3x32, max-pool 2, conv 3x3x64
  ('same') and 3x3x64, max-pool 2, dense 512, dropout 0.5, dense 10, batch 64;
* ``convlstm``: a reduced Keras ``conv_lstm.py`` example (its convolutions run inside the
  recurrent loop): 10 frames of 20x20x1, two ConvLSTM2D(16, 3x3, 'same',
  return_sequences) each followed by BatchNormalization, Conv3D(1, 3x3x3, sigmoid),
  binary crossentropy, batch 8. Target: jkb within 1.5x of TF per epoch (rate >= 0.67).

Figures:

* ``peers.fit.<model>`` (rate): samples/s of jkb / samples/s of TF over one epoch, after
  one warm-up epoch on each side; rounds interleaved (jkb, TF, TF, jkb, ...). Target
  >= 1.0 for the CNNs; the MLP row is informational (jkb/optax is keras_fit.py's figure).
* ``peers.cold.<model>.<what>`` (time, info): the cold start, in fresh processes, jkb / TF:
  ``first_batch`` (building and compiling the train function + the first
  ``train_on_batch``), ``first_predict``, ``first_evaluate`` and ``first_epoch`` (a new
  model's first ``fit`` epoch); ``first_epoch_cached`` is jkb's with a warm persistent
  compilation cache (``JKB_COMPILATION_CACHE``) against TF's first epoch. Targets:
  ``first_batch`` <= 2, ``first_epoch_cached`` <= 1.

TensorFlow runs in a worker process (its own interpreter; the jkb side runs in this one)
driven over a pipe, so the rounds still alternate. TensorFlow 2.21 requires Keras 3,
which replaces Keras 2.3.1 in an environment, so it is looked for, in order: in this
interpreter; in ``$JKB_PEER_PYTHON``; in ``.venv-peers/bin/python`` at the repository root
(``make bench-peers-venv`` creates it with the ``bench-peers`` extra). Without it every
row prints n/a (SKIP).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from _common import Result, main_of, pick

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = ("mlp", "cnn", "cifar_cnn", "convlstm")
BATCH = {"mlp": 128, "cnn": 128, "cifar_cnn": 64, "convlstm": 8}
SHAPE = {"mlp": (784,), "cnn": (28, 28, 1), "cifar_cnn": (32, 32, 3),
         "convlstm": (10, 20, 20, 1)}
TARGET = {"mlp": None, "cnn": 1.0, "cifar_cnn": 1.0, "convlstm": 1 / 1.5}


# ----------------------------------------------------------------------------- models


def init_weights(model, seed=0, keras_model=None):
    """Initial weights (NumPy float32) in ``model.get_weights()`` order."""
    from _models import _glorot, init_params

    if model in ("mlp", "cnn"):
        return init_params(model, seed)
    if model == "convlstm":  # from the weights' shapes and names, the same for both Kerases
        rng = np.random.default_rng(seed)
        out = []
        for w in [w for layer in keras_model.layers for w in layer.weights]:
            shape = tuple(int(d) for d in w.shape)
            if len(shape) >= 2:
                fan_in = int(np.prod(shape[:-1]))
                out.append(_glorot(rng, shape, fan_in, shape[-1]))
            elif "gamma" in w.name or "moving_variance" in w.name:
                out.append(np.ones(shape, np.float32))
            else:
                out.append(np.zeros(shape, np.float32))
        return out
    rng = np.random.default_rng(seed)
    out = []
    for kin, kout in ((3, 32), (32, 32), (32, 64), (64, 64)):
        out += [_glorot(rng, (3, 3, kin, kout), 9 * kin, 9 * kout), np.zeros(kout, np.float32)]
    for din, dout in ((6 * 6 * 64, 512), (512, 10)):  # 32 -> 32 -> 30 -> 15 -> 15 -> 13 -> 6
        out += [_glorot(rng, (din, dout), din, dout), np.zeros(dout, np.float32)]
    return out


def make_data(model, n, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.random((n,) + SHAPE[model], dtype=np.float32)
    if model == "convlstm":  # the next frames, binarized
        return x, (rng.random(x.shape) > 0.5).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
    return x, y


def build(keras, model):
    """The model with either Keras (``keras`` 2.3.1 on jkb or ``tf_keras``), compiled."""
    L = keras.layers
    if model == "mlp":
        layers = [L.Dense(512, activation="relu", input_shape=(784,)), L.Dropout(0.2),
                  L.Dense(512, activation="relu"), L.Dropout(0.2),
                  L.Dense(10, activation="softmax")]
    elif model == "cnn":
        layers = [L.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
                  L.MaxPooling2D((2, 2)), L.Conv2D(64, (3, 3), activation="relu"),
                  L.MaxPooling2D((2, 2)), L.Flatten(), L.Dense(10, activation="softmax")]
    elif model == "convlstm":
        layers = [L.ConvLSTM2D(16, (3, 3), padding="same", return_sequences=True,
                               input_shape=(None, 20, 20, 1)),
                  L.BatchNormalization(),
                  L.ConvLSTM2D(16, (3, 3), padding="same", return_sequences=True),
                  L.BatchNormalization(),
                  L.Conv3D(1, (3, 3, 3), activation="sigmoid", padding="same")]
    else:
        layers = [L.Conv2D(32, (3, 3), padding="same", activation="relu",
                           input_shape=(32, 32, 3)),
                  L.Conv2D(32, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                  L.Conv2D(64, (3, 3), padding="same", activation="relu"),
                  L.Conv2D(64, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                  L.Flatten(), L.Dense(512, activation="relu"), L.Dropout(0.5),
                  L.Dense(10, activation="softmax")]
    m = keras.models.Sequential(layers)
    init = init_weights(model, keras_model=m)
    for layer in m.layers:  # layer by layer: the order of get_weights() differs by Keras
        n = len(layer.weights)
        layer.set_weights(init[:n])
        init = init[n:]
    loss = "binary_crossentropy" if model == "convlstm" else "categorical_crossentropy"
    m.compile(keras.optimizers.Adam(learning_rate=1e-3), loss)
    return m


def nbatches(model, mode):
    """Batches per epoch: enough that what fit() does once per epoch (TF builds its data
    pipeline then) weighs little beside the steps."""
    if model == "mlp":
        return pick(mode, 64, 128, 256)
    return pick(mode, 8, 16, 32) if model == "convlstm" else pick(mode, 16, 32, 64)


# ----------------------------------------------------------------------------- one side


class Side:
    """Builds a model and runs epochs / cold-start steps; the same code for both sides."""

    def __init__(self, keras, model, mode):
        self.keras, self.model = keras, model
        self.x, self.y = make_data(model, nbatches(model, mode) * BATCH[model])
        self.m = None

    def cold(self):
        """Times of the cold start of a new model: first train batch (incl. building the
        train function), first predict, first evaluate, then a second fresh model's
        first fit epoch."""
        b = BATCH[self.model]
        xb, yb = self.x[:b], self.y[:b]
        out = {}
        t = time.perf_counter()
        m = build(self.keras, self.model)
        m.train_on_batch(xb, yb)
        out["first_batch"] = time.perf_counter() - t
        t = time.perf_counter()
        m.predict(xb, batch_size=b)
        out["first_predict"] = time.perf_counter() - t
        t = time.perf_counter()
        m.evaluate(xb, yb, batch_size=b, verbose=0)
        out["first_evaluate"] = time.perf_counter() - t
        return out

    def first_epoch(self):
        t = time.perf_counter()
        m = build(self.keras, self.model)
        m.fit(self.x, self.y, batch_size=BATCH[self.model], epochs=1, verbose=0, shuffle=True)
        return time.perf_counter() - t

    def epoch(self):
        if self.m is None:
            self.m = build(self.keras, self.model)
        t = time.perf_counter()
        self.m.fit(self.x, self.y, batch_size=BATCH[self.model], epochs=1, verbose=0,
                   shuffle=True)
        return time.perf_counter() - t


def _import_tf_keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tf_keras
    return tf_keras


def _import_keras_on_jkb():
    os.environ["KERAS_BACKEND"] = "jkb"
    import keras
    from keras import backend as KB
    if KB.backend() != "jkb":
        raise RuntimeError(f"Keras loaded backend {KB.backend()!r}, not jkb")
    return keras


def worker(framework):
    """A process that answers commands on stdin with one JSON line each on stdout:
    ``build <model> <mode>``, ``epoch``, ``cold``, ``first_epoch``, ``quit``."""
    keras = _import_tf_keras() if framework == "tf" else _import_keras_on_jkb()
    side = None
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "build":
                side = Side(keras, cmd[1], cmd[2])
                out = {"ok": True}
            elif cmd[0] == "epoch":
                out = {"s": side.epoch()}
            elif cmd[0] == "cold":
                out = side.cold()
            elif cmd[0] == "first_epoch":
                out = {"s": side.first_epoch()}
            elif cmd[0] == "quit":
                return
            else:
                out = {"error": f"unknown command {cmd[0]}"}
        except Exception as e:  # reported to the parent, which skips the row
            out = {"error": f"{type(e).__name__}: {e}"[:300]}
        print(json.dumps(out), flush=True)


def _tf_env(env):
    """TensorFlow's environment: without KERAS_BACKEND (its Keras 3 would try to load jkb)."""
    e = {k: v for k, v in env.items() if k != "KERAS_BACKEND"}
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return e


class Worker:
    def __init__(self, python, framework, env=None):
        e = dict(os.environ)
        e.update(env or {})
        if framework == "tf":
            e = _tf_env(e)
        e["PYTHONPATH"] = os.pathsep.join([HERE, ROOT] + (
            [e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
        e.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.p = subprocess.Popen([python, os.path.abspath(__file__), "--worker", framework],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=e)
        self._read()

    def _read(self):
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError("worker exited")
            if line.startswith("{"):
                out = json.loads(line)
                if "error" in out:
                    raise RuntimeError(out["error"])
                return out

    def __call__(self, *cmd):
        self.p.stdin.write(" ".join(cmd) + "\n")
        self.p.stdin.flush()
        return self._read()

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except Exception:
            self.p.kill()


def tf_python():
    """An interpreter with tensorflow and tf_keras, or None."""
    if (importlib.util.find_spec("tensorflow") is not None
            and importlib.util.find_spec("tf_keras") is not None):
        return sys.executable
    for cand in (os.environ.get("JKB_PEER_PYTHON"),
                 os.path.join(ROOT, ".venv-peers", "bin", "python")):
        if cand and os.path.exists(cand):
            ok = subprocess.run([cand, "-c", "import tensorflow, tf_keras"],
                                capture_output=True, env=_tf_env(os.environ))
            if ok.returncode == 0:
                return cand
    return None


# ----------------------------------------------------------------------------- figures


def _fit_rows(mode, tfpy):
    res = []
    rounds = pick(mode, 3, 5, 9)
    for model in MODELS:
        name = f"peers.fit.{model}"
        tf = jk = None
        try:
            tf = Worker(tfpy, "tf")
            jk = Worker(sys.executable, "jkb")
            tf("build", model, mode)
            jk("build", model, mode)
            jk("epoch")  # warm-up: compiles
            tf("epoch")
            ta, tb = [], []
            for r in range(rounds):
                order = ((jk, ta), (tf, tb)) if r % 2 == 0 else ((tf, tb), (jk, ta))
                for w, acc in order:
                    acc.append(w("epoch")["s"])
        except Exception as e:
            res.append(Result(name, kind="rate", skipped=str(e)[:240]))
            continue
        finally:
            for w in (tf, jk):
                if w is not None:
                    w.close()
        n = nbatches(model, mode) * BATCH[model]
        ratio = statistics.median(b / a for a, b in zip(ta, tb))  # rate ratio = tf time / jkb
        p10 = sorted(tb)[(len(tb) - 1) // 10] / sorted(ta)[(len(ta) - 1) // 10]
        target = TARGET[model]
        res.append(Result(name, kind="rate", ratio=ratio, target=target,
                          jkb=n / statistics.median(ta), ref=n / statistics.median(tb),
                          extra={"p10_ratio": round(p10, 3),
                                 "spread": f"{min(b / a for a, b in zip(ta, tb)):.2f}-"
                                           f"{max(b / a for a, b in zip(ta, tb)):.2f}"},
                          note=f"{nbatches(model, mode)} batches of {BATCH[model]} per epoch, "
                               f"{rounds} rounds; ref=tf_keras on TensorFlow"))
    return res


def _cold_rows(mode, tfpy):
    res = []
    models = pick(mode, ("cnn",), MODELS)
    reps = pick(mode, 1, 1, 3)
    for model in models:
        meas = {"jkb": [], "tf": [], "jkb_epoch": [], "tf_epoch": [], "jkb_cached": []}
        try:
            for _ in range(reps):
                d = tempfile.mkdtemp(prefix="jkb-peers-cc-")
                try:
                    for fw, py, env in (("tf", tfpy, {}), ("jkb", sys.executable,
                                                           {"JKB_COMPILATION_CACHE": ""})):
                        w = Worker(py, fw, env)
                        try:
                            w("build", model, mode)
                            meas[fw].append(w("cold"))
                        finally:
                            w.close()
                        w = Worker(py, fw, env)
                        try:
                            w("build", model, mode)
                            meas[f"{fw}_epoch"].append(w("first_epoch")["s"])
                        finally:
                            w.close()
                    for _i in range(2):  # the first fills the cache, the second reads it
                        w = Worker(sys.executable, "jkb", {"JKB_COMPILATION_CACHE": d})
                        try:
                            w("build", model, mode)
                            t = w("first_epoch")["s"]
                        finally:
                            w.close()
                    meas["jkb_cached"].append(t)
                finally:
                    shutil.rmtree(d, ignore_errors=True)
        except Exception as e:
            res.append(Result(f"peers.cold.{model}", skipped=str(e)[:240]))
            continue

        def med(rows, key=None):
            return statistics.median(r[key] if key else r for r in rows) * 1e3

        note = f"fresh processes, median of {reps}; ref=tf_keras on TensorFlow"
        for what, target in (("first_batch", 2.0), ("first_predict", None),
                             ("first_evaluate", None)):
            a, b = med(meas["jkb"], what), med(meas["tf"], what)
            res.append(Result(f"peers.cold.{model}.{what}", ratio=a / b, target=target, jkb=a,
                              ref=b, note=note))
        a, b = med(meas["jkb_epoch"]), med(meas["tf_epoch"])
        res.append(Result(f"peers.cold.{model}.first_epoch", kind="info", ratio=a / b, jkb=a,
                          ref=b, note=note + f"; {nbatches(model, mode)} batches"))
        a = med(meas["jkb_cached"])
        res.append(Result(f"peers.cold.{model}.first_epoch_cached", ratio=a / b, target=1.0,
                          jkb=a, ref=b, note="jkb with a warm JKB_COMPILATION_CACHE; " + note))
    return res


def run(mode):
    tfpy = tf_python()
    if tfpy is None:
        reason = ("n/a: TensorFlow + tf_keras not found (pip install -e '.[bench-peers]' in "
                  "an environment without Keras 2.3.1, then JKB_PEER_PYTHON=<its python>; "
                  "or make bench-peers-venv)")
        return [Result(f"peers.fit.{m}", kind="rate", skipped=reason) for m in MODELS]
    return _fit_rows(mode, tfpy) + _cold_rows(mode, tfpy)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv[sys.argv.index("--worker") + 1])
    else:
        main_of(run)
