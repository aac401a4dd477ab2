"""Trace counts of a K.function (``Function.trace_count``): counts, not timings.

On the MLP training function of train_step (Adam with ``K.update``, learning phase input):
same shapes trace once; a new batch size traces once more; ``K.set_value`` of the
learning-rate variable never retraces. tests/test_retrace.py asserts the same rules.
"""

from __future__ import annotations

from _common import Result, main_of


def run(mode):
    from _models import init_params, jkb_train_function, make_data

    import jkb as K

    K.clear_session()
    f, _, lr = jkb_train_function("mlp", init_params("mlp"))
    x, y = make_data("mlp", 128 + 96)
    b128, b96 = (x[:128], y[:128]), (x[128:], y[128:])
    res = []
    for _ in range(3):
        f([*b128, 1])
    res.append(Result("retrace.same_shapes_3_calls", kind="count", value=f.trace_count,
                      expected=1))
    f([*b96, 1])
    f([*b96, 1])
    f([*b128, 1])
    res.append(Result("retrace.new_batch_size", kind="count", value=f.trace_count,
                      expected=2, note="batch 128 -> 96 -> 96 -> 128"))
    for value in (1e-4, 0.0, 3e-3):
        K.set_value(lr, value)
        f([*b128, 1])
    res.append(Result("retrace.set_value_lr", kind="count", value=f.trace_count, expected=2,
                      note="3 K.set_value(lr, ...) + calls"))
    f([*b128, 0])
    f([*b128, 0])
    res.append(Result("retrace.learning_phase_0", kind="count", value=f.trace_count,
                      expected=3, note="the phase is static: one more program"))
    return res


if __name__ == "__main__":
    main_of(run)
