"""A Keras 2.3.1 model trained data-parallel on jkb.

Uses every device JAX sees: all GPUs or TPU chips of the host, or, on a machine with only a
CPU, 8 simulated CPU devices (the flag below only affects JAX's CPU platform). The script is
the usual Keras one plus two lines: pick a distribution, set it before building the model.

    python examples/data_parallel.py
"""

import os
import tempfile

# Must be set before JAX starts its CPU backend; importing jkb or Keras starts none.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("KERAS_BACKEND", "jkb")
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="jkb-keras-home-"))

import numpy as np  # noqa: E402
from keras.layers import BatchNormalization, Dense, Dropout  # noqa: E402
from keras.models import Sequential  # noqa: E402

import jkb.distribute  # noqa: E402


def main():
    dist = jkb.distribute.DataParallel()  # a 1-D "batch" mesh over every device
    jkb.distribute.set_distribution(dist)
    print(f"mesh: {dict(dist.mesh.shape)} over {dist.mesh.devices.size} "
          f"{dist.mesh.devices.flat[0].platform} devices")

    rng = np.random.RandomState(0)
    x = rng.randn(4096, 20).astype("float32")
    y = (x[:, :10].sum(1) > x[:, 10:].sum(1)).astype("float32")

    model = Sequential([Dense(64, activation="relu", input_shape=(20,)),
                        BatchNormalization(), Dropout(0.1),
                        Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    # Each batch of 256 is split over the devices; the last batch (4096 % 256 == 0 here,
    # but any size works) is computed exactly, never dropped or padded.
    hist = model.fit(x, y, batch_size=256, epochs=5, verbose=0)
    for epoch, (loss, acc) in enumerate(zip(hist.history["loss"],
                                            hist.history["accuracy"]), 1):
        print(f"epoch {epoch}: loss {loss:.4f}  accuracy {acc:.3f}")
    preds = model.predict(x[:1003], batch_size=256)
    print(f"predict on 1003 rows -> {preds.shape}")


if __name__ == "__main__":
    main()
