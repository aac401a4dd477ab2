"""examples/keras2_mnist_style.py runs on jkb and learns (a shortened run)."""

import os
import re
import subprocess
import sys

import pytest

pytest.importorskip("keras", reason="Keras 2.3.1 is not installed (pip install -e '.[keras231]')")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


@pytest.mark.slow
def test_mnist_style_example_trains_with_keras_progress_bar(tmp_path):
    env = dict(os.environ, KERAS_BACKEND="jkb", KERAS_HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "keras2_mnist_style.py"),
         "--epochs", "2", "--train", "2000", "--test", "500"],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "on backend 'jkb'" in out.stdout
    assert "Epoch 2/2" in out.stdout and "val_accuracy" in out.stdout  # Keras' own progbar
    acc = float(re.search(r"test accuracy (\d\.\d+)", out.stdout).group(1))
    assert acc > 0.6, out.stdout[-2000:]
