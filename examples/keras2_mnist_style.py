"""A Keras 2.3.1 convnet trained on jkb, MNIST style, with nothing downloaded.

The data are synthetic handwritten-like digits: each digit 0-9 is a few pen strokes
(polylines) drawn on a 28x28 canvas with a random slant, scale, shift and pen width, then
slightly blurred and noised. The model and training code are plain Keras 2.3.1; only the
backend is jkb.

    pip install -e '.[keras231]'
    python examples/keras2_mnist_style.py [--epochs 3] [--train 6000]
"""

import argparse
import os
import tempfile

# Keras reads these when it is imported: select jkb, and keep keras.json out of ~/.keras.
os.environ.setdefault("KERAS_BACKEND", "jkb")
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras-home-"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402
from keras.models import Sequential  # noqa: E402

# Pen strokes of each digit in a unit box (x right, y down), as lists of polylines.
STROKES = {
    0: [[(0.5, 0.05), (0.2, 0.2), (0.15, 0.5), (0.2, 0.8), (0.5, 0.95), (0.8, 0.8),
         (0.85, 0.5), (0.8, 0.2), (0.5, 0.05)]],
    1: [[(0.3, 0.25), (0.55, 0.05), (0.55, 0.95)], [(0.35, 0.95), (0.75, 0.95)]],
    2: [[(0.2, 0.25), (0.4, 0.07), (0.7, 0.08), (0.8, 0.3), (0.6, 0.55), (0.2, 0.93),
         (0.85, 0.93)]],
    3: [[(0.2, 0.1), (0.75, 0.1), (0.45, 0.45), (0.75, 0.6), (0.75, 0.85), (0.5, 0.95),
         (0.2, 0.85)]],
    4: [[(0.65, 0.95), (0.65, 0.05), (0.15, 0.65), (0.85, 0.65)]],
    5: [[(0.8, 0.07), (0.3, 0.07), (0.25, 0.45), (0.6, 0.42), (0.8, 0.62), (0.7, 0.9),
         (0.45, 0.95), (0.2, 0.85)]],
    6: [[(0.7, 0.07), (0.35, 0.3), (0.2, 0.65), (0.35, 0.93), (0.65, 0.93), (0.8, 0.7),
         (0.6, 0.5), (0.3, 0.55), (0.2, 0.65)]],
    7: [[(0.15, 0.07), (0.85, 0.07), (0.4, 0.95)], [(0.35, 0.5), (0.7, 0.5)]],
    8: [[(0.5, 0.5), (0.25, 0.3), (0.5, 0.06), (0.75, 0.3), (0.5, 0.5), (0.2, 0.72),
         (0.5, 0.95), (0.8, 0.72), (0.5, 0.5)]],
    9: [[(0.8, 0.35), (0.65, 0.08), (0.35, 0.08), (0.2, 0.3), (0.35, 0.5), (0.65, 0.48),
         (0.8, 0.35), (0.75, 0.7), (0.4, 0.95)]],
}
SIZE = 28


def _distance_to_segment(px, py, a, b):
    """Distance from every pixel centre (px, py) to the segment a-b."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    t = ((px - ax) * dx + (py - ay) * dy) / max(dx * dx + dy * dy, 1e-9)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


def render(digit, rng):
    """One 28x28 image of ``digit`` with random handwriting variations, values in [0, 1]."""
    scale = rng.uniform(13, 21)
    slant = rng.uniform(-0.4, 0.4)
    angle = rng.uniform(-0.3, 0.3)
    stretch = rng.uniform(0.7, 1.2)
    cx = SIZE / 2 + rng.uniform(-3.5, 3.5)
    cy = SIZE / 2 + rng.uniform(-3.5, 3.5)
    width = rng.uniform(0.8, 2.0)
    cos, sin = np.cos(angle), np.sin(angle)

    def place(p):
        x, y = (p[0] - 0.5) * stretch, p[1] - 0.5
        x = x + slant * -y  # italic slant: the top leans right
        x, y = cos * x - sin * y, sin * x + cos * y
        jitter = rng.normal(0, 0.04, 2)
        return cx + scale * (x + jitter[0]), cy + scale * (y + jitter[1])

    py, px = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    dist = np.full((SIZE, SIZE), np.inf)
    for line in STROKES[digit]:
        pts = [place(p) for p in line]
        for a, b in zip(pts[:-1], pts[1:]):
            dist = np.minimum(dist, _distance_to_segment(px, py, a, b))
    img = np.clip(1.5 - dist / width, 0.0, 1.0)  # anti-aliased pen of the given width
    img += rng.normal(0, 0.15, img.shape)
    return np.clip(img, 0.0, 1.0).astype("float32")


def make_dataset(n, seed):
    rng = np.random.RandomState(seed)
    y = rng.randint(0, 10, n)
    x = np.stack([render(d, rng) for d in y])[..., None]
    return x, y


def build_model():
    model = Sequential([
        layers.Conv2D(16, (3, 3), activation="relu", input_shape=(SIZE, SIZE, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        # Keras' moving averages start at mean 0 / variance 1 and are not debiased: a
        # faster momentum than the default 0.99 makes them usable after a few epochs.
        layers.BatchNormalization(momentum=0.9),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dropout(0.25),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(lr=2e-3), "categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train", type=int, default=6000, help="training images")
    parser.add_argument("--test", type=int, default=1000, help="test images")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    print(f"Keras {keras.__version__} on backend {keras.backend.backend()!r}")
    x_train, y_train = make_dataset(args.train, seed=0)
    x_test, y_test = make_dataset(args.test, seed=1)
    print(f"{len(x_train)} training and {len(x_test)} test images of shape "
          f"{x_train.shape[1:]}")

    model = build_model()
    model.summary()
    model.fit(x_train, keras.utils.to_categorical(y_train, 10),
              batch_size=args.batch_size, epochs=args.epochs, validation_split=0.1, verbose=1)
    loss, acc = model.evaluate(x_test, keras.utils.to_categorical(y_test, 10),
                               batch_size=256, verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
