"""Two processes joined by jax.distributed (local coordinator, 2 CPU devices each, CPU
collectives), against one process with 4 devices fed the same global batches."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from distributed.runner import run, run_processes

# The workers import Keras (with KERAS_BACKEND=jkb); this process only needs to find it.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("keras") is None,
    reason="Keras 2.3.1 is not installed: pip install -e '.[keras231]'")]


@pytest.mark.parametrize("kind", ["dp", "mp"])
def test_two_processes_train_one_global_model(tmp_path, kind):
    procs = run_processes("multiprocess", 2, 2, tmp_path, tmp_path, kind)
    ref = run("multiprocess_ref", 4, tmp_path, tmp_path, kind)
    assert [bool(p["chief"]) for p in procs] == [True, False]
    weights = sorted(k for k in ref if k.startswith("w"))
    assert len(weights) == 8
    for k in ["loss", *weights]:
        np.testing.assert_array_equal(procs[0][k], procs[1][k], err_msg=k)
        np.testing.assert_allclose(procs[0][k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)
    # 'mp' splits the first kernel over both processes' devices (get_weights all-gathers)
    assert bool(procs[0]["kernel_replicated"]) == (kind == "dp")
    assert os.path.exists(tmp_path / "weights_0.h5")
    assert not os.path.exists(tmp_path / "weights_1.h5")  # only the chief writes files
