"""jkb.checkpoint: sharded save and restore across meshes and processes (orbax)."""

from __future__ import annotations

import numpy as np
import pytest
from distributed.runner import run

pytest.importorskip("orbax.checkpoint", reason="pip install -e '.[checkpoint]'")
pytestmark = pytest.mark.slow


def test_restore_onto_other_meshes_and_clear_errors(tmp_path):
    res = run("checkpoint", 8, tmp_path)  # saved from a (2, 4) mesh, kernel split
    want = np.arange(96.0, dtype=np.float32).reshape(12, 8)
    np.testing.assert_array_equal(res["saved_kernel"], want)
    for label, ndev in (("dp", 8), ("one", 1)):
        np.testing.assert_array_equal(res[f"{label}.kernel"], want)
        np.testing.assert_array_equal(res[f"{label}.bias"], np.arange(8.0))
        assert int(res[f"{label}.devices"]) == ndev
    msg = str(res["error"])
    assert "nothing was restored" in msg
    assert "dense_1/bias:0: checkpoint has float32[8], the variable is float32[9]" in msg
    assert "dense_9/kernel:0: not in the checkpoint" in msg
    assert bool(res["unchanged"])


def test_resume_in_a_new_process_is_bit_identical(tmp_path):
    ck = tmp_path / "ck"
    whole = run("resume", 1, tmp_path, "whole")
    first = run("resume", 1, tmp_path, "first", ck)
    second = run("resume", 1, tmp_path, "second", ck)
    np.testing.assert_array_equal(
        np.concatenate([first["losses"], second["losses"]]), whole["losses"])
    finals = [k for k in whole if k.startswith("final.")]
    assert len(finals) == 4
    for k in finals + ["step", "key", "draws"]:
        np.testing.assert_array_equal(second[k], whole[k], err_msg=k)
    assert int(whole["step"]) == 100
    assert whole["draws"].tolist() == [100]  # the seeded op drew once per step


def test_checkpoint_in_process_roundtrip(tmp_path):
    import jkb as K
    import jkb.checkpoint as C
    w = K.variable(np.arange(6.0).reshape(2, 3), name="w")
    n = K.variable(np.int32(4), dtype="int32", name="n")
    C.save(tmp_path / "a", [w, n])
    K.set_value(w, np.zeros((2, 3)))
    K.set_value(n, 0)
    C.restore(tmp_path / "a", [w, n])
    np.testing.assert_array_equal(K.get_value(w), np.arange(6.0).reshape(2, 3))
    assert K.get_value(n) == 4
    other = K.variable(np.zeros(2), name="w")
    with pytest.raises(ValueError, match="two variables are named w:0"):
        C.save(tmp_path / "b", [w, other])
