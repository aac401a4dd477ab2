"""CTC: loss, greedy and beam-search decoding, dense->sparse labels, Theano helpers.

References are brute force: every alignment path of a tiny input is enumerated, so label
probabilities (and the best labellings) are exact.
"""

import itertools
from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental.sparse import BCOO
from jax.test_util import check_grads
from opcheck import check

import jkb as K

EPS = 1e-7


# ----------------------------------------------------------------------------- references


def _probs(rng, b, t, c, dtype=np.float32):
    p = rng.random((b, t, c)) + 0.05
    return (p / p.sum(-1, keepdims=True)).astype(dtype)


def _collapse(path, blank):
    out, prev = [], None
    for s in path:
        if s != prev and s != blank:
            out.append(int(s))
        prev = s
    return tuple(out)


def _labelling_probs(q):
    """Exact probability of every labelling under per-step distributions q (T, C)."""
    t, c = q.shape
    paths = np.array(list(itertools.product(range(c), repeat=t)), dtype=np.int64)
    pp = np.prod(q[np.arange(t)[None, :], paths], axis=1) if t else np.ones(1)
    out = defaultdict(float)
    for path, prob in zip(paths, pp):
        out[_collapse(path, c - 1)] += prob
    return out


def _normalized(p, eps=EPS):
    q = p.astype(np.float64) + eps
    return q / q.sum(-1, keepdims=True)


def ref_ctc_batch_cost(y_true, y_pred, input_length, label_length):
    out = []
    for i in range(y_pred.shape[0]):
        il, ll = int(np.ravel(input_length)[i]), int(np.ravel(label_length)[i])
        probs = _labelling_probs(_normalized(y_pred[i, :il]))
        target = tuple(int(v) for v in y_true[i, :ll])
        out.append(-np.log(probs.get(target, 0.0)))
    return np.array(out, dtype=y_pred.dtype)[:, None]


def _pad(seqs, width):
    out = -np.ones((len(seqs), width), np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out


def ref_greedy(y_pred, input_length):
    b, t, c = y_pred.shape
    seqs, scores = [], []
    for i in range(b):
        n = int(input_length[i])
        logv = np.log(y_pred[i, :n].astype(np.float64) + EPS)
        seqs.append(_collapse(np.argmax(logv, -1), c - 1))
        scores.append(-np.sum(np.max(logv, -1)))
    return [_pad(seqs, t)], np.array(scores, y_pred.dtype)[:, None]


def _np_prefix_beam(logp, length, width):
    """Textbook CTC prefix beam search with dict-merged prefixes."""
    c = logp.shape[1]
    blank = c - 1
    beams = {(): (0.0, -np.inf)}
    for t in range(length):
        y = logp[t]
        nxt = defaultdict(lambda: [-np.inf, -np.inf])
        for pre, (pb, pnb) in beams.items():
            tot = np.logaddexp(pb, pnb)
            nxt[pre][0] = np.logaddexp(nxt[pre][0], tot + y[blank])
            if pre:
                nxt[pre][1] = np.logaddexp(nxt[pre][1], pnb + y[pre[-1]])
            for k in range(c - 1):
                src = pb if pre and pre[-1] == k else tot
                ext = pre + (k,)
                nxt[ext][1] = np.logaddexp(nxt[ext][1], src + y[k])
        ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))
        beams = {k: tuple(v) for k, v in ranked[:width]}
    ranked = sorted(beams.items(), key=lambda kv: -np.logaddexp(*kv[1]))
    return [(k, np.logaddexp(*v)) for k, v in ranked]


def _merge(seq):
    return tuple(v for i, v in enumerate(seq) if i == 0 or v != seq[i - 1])


def ref_beam(y_pred, input_length, width, top_paths, merge_repeated=False):
    b, t, c = y_pred.shape
    logv = np.log(y_pred.astype(np.float64) + EPS)
    logp = logv - np.log(np.exp(logv).sum(-1, keepdims=True))
    results = [_np_prefix_beam(logp[i], int(input_length[i]), width) for i in range(b)]
    decoded = []
    for k in range(top_paths):
        seqs = [r[k][0] for r in results]
        decoded.append(_pad([_merge(s) if merge_repeated else s for s in seqs], t))
    scores = np.array([[r[k][1] for k in range(top_paths)] for r in results], y_pred.dtype)
    return decoded, scores


# ----------------------------------------------------------------------------- ctc_batch_cost

# One shape for every loss case (B=4, T=5, C=4, N=3) so the compiled loss is reused.
CASES = [
    # y_true, input_length, label_length
    ([[0, 1, 2], [1, 1, 0], [2, 0, 0], [0, 2, 1]], [5, 4, 3, 5], [3, 2, 1, 3]),
    ([[2, 2, 2], [0, 1, 1], [1, 0, 1], [0, 0, 1]], [5, 5, 5, 1], [1, 3, 3, 1]),
    ([[1, 0, 0], [0, 0, 0], [2, 1, 2], [1, 2, 0]], [5, 2, 4, 5], [0, 1, 3, 2]),
]


def _case(i, dtype=np.float32):
    y, il, ll = CASES[i]
    p = _probs(np.random.default_rng(i), 4, 5, 4, dtype)
    col = lambda v: np.array(v, np.int32)[:, None]  # noqa: E731
    return np.array(y, np.int32), p, col(il), col(ll)


def test_ctc_batch_cost_three_ways():
    # repeats that need a blank, padding equal to the last label, short inputs
    check(K.ctc_batch_cost, ref_ctc_batch_cost, *_case(0), rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("case, dtype", [(0, np.float64), (1, np.float32), (2, np.float32)])
def test_ctc_batch_cost_matches_bruteforce(case, dtype):
    # all-repeat labels, a label length of 0, an input length of 1
    args = _case(case, dtype)
    got = K.ctc_batch_cost(*args)
    assert got.dtype == dtype and got.shape == (4, 1)
    np.testing.assert_allclose(got, ref_ctc_batch_cost(*args), rtol=1e-5 if dtype ==
                               np.float32 else 1e-9, atol=1e-5 if dtype == np.float32 else 0)


def test_ctc_batch_cost_float_labels_and_flat_lengths():
    # Keras feeds labels through float placeholders; (batch,) lengths are accepted too.
    y, p, il, ll = _case(0)
    got = K.ctc_batch_cost(y.astype(np.float32), p, il[:, 0].astype(np.float32),
                           ll[:, 0].astype(np.float32))
    assert got.shape == (4, 1) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref_ctc_batch_cost(y, p, il, ll), rtol=2e-5, atol=1e-5)


def test_ctc_batch_cost_uses_epsilon_at_call_time():
    y, p, il, ll = _case(0)
    p = np.zeros_like(p)
    p[..., 3] = 1.0  # only blanks: the labels are reachable only through epsilon
    K.set_epsilon(1e-3)
    got = np.asarray(K.ctc_batch_cost(y, p, il, ll))
    for i in range(4):
        q = _normalized(p[i, :il[i, 0]], 1e-3)
        want = -np.log(_labelling_probs(q)[tuple(y[i, :ll[i, 0]])])
        np.testing.assert_allclose(got[i], [want], rtol=1e-5)


def test_ctc_batch_cost_infeasible():
    y, p, il, ll = _case(0)
    y[1] = [1, 1, 0]  # needs 4 steps: a blank between the two 1s
    ll[1], il[1] = 3, 3
    with pytest.raises(ValueError, match="sample 1: 4 required.*input_length=3"):
        K.ctc_batch_cost(y, p, il, ll)
    # Compiled: no way to raise, the loss is +inf (TF's value for no valid path).
    ps = [K.placeholder((None, 3), dtype="int32"), K.placeholder((None, 5, 4)),
          K.placeholder((None, 1), dtype="int32"), K.placeholder((None, 1), dtype="int32")]
    out = K.function(ps, [K.ctc_batch_cost(*ps)])([y, p, il, ll])[0]
    assert np.isposinf(out[1, 0])
    keep = [0, 2, 3]
    np.testing.assert_allclose(out[keep], ref_ctc_batch_cost(y[keep], p[keep], il[keep],
                                                             ll[keep]), rtol=2e-5)


@pytest.mark.parametrize("bad, match", [
    (dict(y_pred=np.ones((2, 3))), r"y_pred must have shape.*Received: y_pred.shape=\(2, 3\)"),
    (dict(y_true=np.ones((3, 2))), "y_true must have shape"),
    (dict(input_length=np.ones((2, 2))), "input_length must have shape"),
    (dict(label_length=np.ones((3, 1))), "label_length must have shape"),
    (dict(y_true=np.array([[0, 2], [0, 1]])), r"labels of sample 0 must lie in \[0, 1\]"),
    (dict(label_length=np.array([[3], [1]])), r"label_length\[0\]=3 is outside"),
    (dict(input_length=np.array([[5], [1]])), r"input_length\[0\]=5 is outside"),
])
def test_ctc_batch_cost_errors(bad, match):
    args = dict(y_true=np.array([[0, 1], [1, 0]]), y_pred=_probs(np.random.default_rng(0),
                2, 4, 3), input_length=np.array([[4], [4]]), label_length=np.array([[2], [2]]))
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        K.ctc_batch_cost(**args)


def test_ctc_batch_cost_symbolic_shape_error():
    with pytest.raises(ValueError, match="ctc_batch_cost.*y_pred must have shape"):
        K.ctc_batch_cost(K.placeholder((None, 2)), K.placeholder((None, 3)),
                         K.placeholder((None, 1)), K.placeholder((None, 1)))


def test_ctc_batch_cost_grads():
    # First order only: compiling optax's scan twice differentiated costs ~10 s here, and
    # nothing in Keras takes second derivatives of a CTC loss.
    y, p, il, ll = _case(0, np.float64)
    check_grads(jax.jit(lambda p: K.ctc_batch_cost(y, p, il, ll)), (p,), order=1,
                modes=["rev"], atol=1e-4, rtol=1e-4)


def test_ctc_batch_cost_gradient_matches_bruteforce():
    # K.gradients through a compiled K.function vs a finite difference of the reference.
    y, p, il, ll = _case(0, np.float64)
    K.set_floatx("float64")
    P = K.placeholder((4, 5, 4))
    loss = K.ctc_batch_cost(K.constant(y, "int32"), P, K.constant(il, "int32"),
                            K.constant(ll, "int32"))
    g = K.function([P], K.gradients(loss, [P]))([p])[0]  # a (4, 1) loss is summed
    h = 1e-6
    for idx in [(0, 1, 2), (1, 0, 3), (3, 4, 0)]:
        d = np.zeros_like(p)
        d[idx] = h
        fd = (ref_ctc_batch_cost(y, p + d, il, ll).sum()
              - ref_ctc_batch_cost(y, p - d, il, ll).sum()) / (2 * h)
        np.testing.assert_allclose(g[idx], fd, rtol=1e-5)
    assert g[2, 3:].max() == 0  # steps past input_length get no gradient


# ----------------------------------------------------------------------------- greedy decode


def _greedy(y_pred, input_length):
    return K.ctc_decode(y_pred, input_length)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ctc_decode_greedy(dtype):
    p = _probs(np.random.default_rng(3), 3, 7, 4, dtype)
    check(_greedy, ref_greedy, p, np.array([7, 0, 4], np.int32), rtol=1e-5, atol=1e-5)


def test_ctc_decode_greedy_merges_repeats_and_drops_blanks():
    seq = [0, 0, 3, 0, 1, 1, 3]  # blank = 3
    p = np.full((3, 7, 4), 0.1, np.float32)
    p[:, np.arange(7), seq] = 0.7
    decoded, log_prob = K.ctc_decode(p, np.array([7, 6, 1]))
    assert len(decoded) == 1 and decoded[0].dtype == jnp.int64
    np.testing.assert_array_equal(decoded[0], [[0, 0, 1, -1, -1, -1, -1],
                                               [0, 0, 1, -1, -1, -1, -1],
                                               [0, -1, -1, -1, -1, -1, -1]])
    np.testing.assert_allclose(log_prob[:, 0], -np.array([7, 6, 1]) * np.log(0.7 + EPS),
                               rtol=1e-6)
    # merge_repeated only concerns beam search
    np.testing.assert_array_equal(
        K.ctc_decode(p, np.array([7, 6, 1]), merge_repeated=True)[0][0], decoded[0])


# ----------------------------------------------------------------------------- beam search

# Beam cases share (batch, time, classes) = (3, 7, 4) so compiled programs are reused.


def test_beam_search_is_exact_with_a_wide_beam():
    # T=4 and two labels give 31 possible labellings: a 32-wide beam keeps all of them, so
    # the results are the exact most probable labellings (enumerated over all paths).
    rng = np.random.default_rng(11)
    p = _probs(rng, 2, 4, 3, np.float64)
    decoded, log_prob = K.ctc_decode(p, np.array([4, 3]), greedy=False, beam_width=32,
                                     top_paths=6)
    for i, n in enumerate([4, 3]):
        exact = sorted(_labelling_probs(_normalized(p[i, :n])).items(), key=lambda kv: -kv[1])
        for k in range(6):
            np.testing.assert_array_equal(decoded[k][i], _pad([exact[k][0]], 4)[0])
            np.testing.assert_allclose(log_prob[i, k], np.log(exact[k][1]), rtol=1e-9)


def _beam_fn(width, top_paths, merge):
    def fn(p, lengths):
        return K.ctc_decode(p, lengths, greedy=False, beam_width=width, top_paths=top_paths,
                            merge_repeated=merge)
    return fn


def test_beam_search_three_ways():
    p = _probs(np.random.default_rng(3), 3, 7, 4)
    lengths = np.array([7, 5, 6], np.int32)
    check(_beam_fn(3, 2, False), lambda p, n: ref_beam(p, n, 3, 2), p, lengths,
          rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("width, top_paths, merge", [(1, 1, False), (4, 4, True)])
@pytest.mark.parametrize("seed", [0, 1])
def test_beam_search_matches_reference(width, top_paths, merge, seed):
    p = _probs(np.random.default_rng(seed), 3, 7, 4)
    lengths = np.array([7, 5, 6], np.int32)
    got = _beam_fn(width, top_paths, merge)(p, lengths)
    want = ref_beam(p, lengths, width, top_paths, merge)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5)


def test_beam_search_many_random_inputs():
    # peaked distributions make prefixes drop out of the beam and come back, and make
    # extensions collide with kept prefixes; compiled once (same shapes as above)
    rng = np.random.default_rng(42)
    fn = _beam_fn(3, 2, False)
    for _ in range(12):
        p = rng.dirichlet(np.full(4, 0.3), size=(3, 7)).astype(np.float32)
        lengths = rng.integers(1, 8, size=3).astype(np.int32)
        got = fn(p, lengths)
        want = ref_beam(p, lengths, 3, 2)
        for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=1e-5)


def test_beam_search_merge_repeated_collapses_output():
    # The best labelling is 0 0 (a blank between two 0 emissions).
    seq = [0, 3, 0, 3, 3, 3, 3]
    p = np.full((3, 7, 4), 0.02, np.float32)
    p[:, np.arange(7), seq] = 0.94
    n = np.array([7, 7, 1], np.int32)
    plain = _beam_fn(3, 2, False)(p, n)[0][0]
    merged = _beam_fn(4, 4, True)(p, n)[0][0]
    np.testing.assert_array_equal(plain[:2, :3], [[0, 0, -1], [0, 0, -1]])
    np.testing.assert_array_equal(merged[:2, :3], [[0, -1, -1], [0, -1, -1]])
    np.testing.assert_array_equal(plain[2], merged[2])


def test_beam_search_zero_length_and_blank_only():
    p = _probs(np.random.default_rng(0), 3, 7, 4)
    decoded, log_prob = _beam_fn(3, 2, False)(p, np.array([0, 7, 1]))
    # nothing decoded, and the empty labelling is the only (certain) one
    np.testing.assert_array_equal(decoded[0][0], -np.ones(7))
    np.testing.assert_array_equal(decoded[1][0], -np.ones(7))
    assert log_prob[0, 0] == 0 and log_prob[0, 1] == -np.inf
    only_blank = np.ones((1, 2, 1), np.float32)
    d, lp = K.ctc_decode(only_blank, np.array([2]), greedy=False, beam_width=2)
    np.testing.assert_array_equal(d[0], [[-1, -1]])
    np.testing.assert_allclose(lp, [[0.0]], atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(beam_width=0), "beam_width must be >= 1"),
    (dict(beam_width=2, top_paths=3), r"top_paths must be in \[1, beam_width=2\]"),
    (dict(top_paths=0), "top_paths must be in"),
])
def test_ctc_decode_bad_beam_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        K.ctc_decode(np.ones((1, 2, 3)) / 3, np.array([2]), greedy=False, **kwargs)


def test_ctc_decode_bad_shapes():
    with pytest.raises(ValueError, match=r"ctc_decode: y_pred must have shape.*\(2, 3\)"):
        K.ctc_decode(np.ones((2, 3)), np.array([3, 3]))
    with pytest.raises(ValueError, match="ctc_decode: input_length must have shape"):
        K.ctc_decode(np.ones((2, 3, 4)), np.array([3, 3, 3]), greedy=False)


# ----------------------------------------------------------------------------- dense -> sparse


def test_ctc_label_dense_to_sparse():
    labels = np.array([[3, 1, 4, 1], [5, 9, 2, 6], [5, 3, 5, 8]], np.int32)
    lengths = np.array([2, 4, 0], np.int32)
    want = np.where(np.arange(4)[None] < lengths[:, None], labels, 0)
    sp = K.ctc_label_dense_to_sparse(labels, lengths)
    assert isinstance(sp, BCOO) and K.is_sparse(sp) and sp.shape == (3, 4)
    np.testing.assert_array_equal(sp.todense(), want)
    assert sp.dtype == np.int32
    # symbolic: a sparse tensor whose K.function output is densified
    lp = K.placeholder((None, 4), dtype="int32")
    np_ = K.placeholder((None,), dtype="int32")
    t = K.ctc_label_dense_to_sparse(lp, np_)
    assert K.is_sparse(t) and K.int_shape(t) == (None, 4)
    np.testing.assert_array_equal(K.function([lp, np_], [t])([labels, lengths])[0], want)
    np.testing.assert_array_equal(K.eval(K.to_dense(K.ctc_label_dense_to_sparse(
        K.variable(labels, dtype="int32"), K.variable(lengths, dtype="int32")))), want)


def test_ctc_label_dense_to_sparse_errors():
    with pytest.raises(ValueError, match=r"labels must have shape \(batch, max_len\)"):
        K.ctc_label_dense_to_sparse(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="label_lengths must have shape"):
        K.ctc_label_dense_to_sparse(np.ones((2, 3)), np.ones(3))


# ----------------------------------------------------------------------------- Theano helpers


def test_ctc_interleave_blanks():
    check(K.ctc_interleave_blanks, lambda y: np.array([-1, 3, -1, 0, -1, 3, -1], y.dtype),
          np.array([3, 0, 3], np.int64))
    check(K.ctc_interleave_blanks, lambda y: np.array([-1], y.dtype),
          np.zeros((0,), np.int32), none=None)
    with pytest.raises(TypeError, match="signed dtype"):
        K.ctc_interleave_blanks(np.array([1, 2], np.uint8))
    with pytest.raises(ValueError, match="1-D label sequence"):
        K.ctc_interleave_blanks(np.ones((2, 2), np.int32))


def _np_skip_idxs(y):
    n = (len(y) - 3) // 2
    cand = np.arange(max(n, 0)) * 2 + 1
    return cand[y[cand] != y[cand + 2]]


SKIP_LABELS = [[1, 2, 2, 3], [4, 4, 4], [0], [], [1, 2], [3, 1, 3, 3, 0]]


def test_ctc_create_skip_idxs():
    for labels in SKIP_LABELS:
        y = np.asarray(K.ctc_interleave_blanks(np.array(labels, np.int64)))
        got = K.ctc_create_skip_idxs(y)
        assert np.asarray(got).dtype == np.int64
        np.testing.assert_array_equal(got, _np_skip_idxs(y), err_msg=str(labels))


def test_ctc_create_skip_idxs_symbolic():
    # fixed size: the positions, then len(Y) as filler
    p = K.placeholder((9,), dtype="int64")
    t = K.ctc_create_skip_idxs(p)
    assert K.int_shape(t) == (3,)
    f = K.function([p], [t])
    for labels, want in [([1, 2, 2, 3], [1, 5, 9]), ([4, 4, 4, 4], [9, 9, 9]),
                         ([1, 2, 3, 4], [1, 3, 5])]:
        y = np.asarray(K.ctc_interleave_blanks(np.array(labels, np.int64)))
        np.testing.assert_array_equal(f([y])[0], want)
        np.testing.assert_array_equal(_np_skip_idxs(y), [w for w in want if w < 9])


def _np_update(skip_idxs, zeros, active, log_curr, log_prev):
    """Slice-based transcription of the documented recursion (dynamic lengths)."""
    s = len(zeros)
    skips = np.array([i for i in np.ravel(skip_idxs) if 0 <= i < active], np.int64)
    active_next = int(min(max(active + 1, (skips.max() if len(skips) else -1) + 3), s))
    common = np.max(log_prev[:active])
    p = np.exp(log_prev[:active] - common)
    q = np.zeros(active_next)
    q[:active] = p
    q[1:] = q[1:] + q[:-1].copy()
    q[skips + 2] += p[skips]
    out = zeros.astype(np.float64).copy()
    with np.errstate(divide="ignore"):
        out[:active_next] = log_curr[:active_next] + np.log(q) + common
    return np.int32(active_next), out


def test_ctc_update_log_p():
    rng = np.random.default_rng(0)
    y = np.asarray(K.ctc_interleave_blanks(np.array([1, 2, 2])))  # S = 7, skip at 1
    skip = np.asarray(K.ctc_create_skip_idxs(y))
    zeros = np.zeros(7)
    log_curr = np.log(rng.random(7))
    log_prev = np.log(rng.random(7))

    def ref(skip, zeros, active, a, b):
        return _np_update(skip, zeros, int(active), a, b)

    check(K.ctc_update_log_p, ref, skip, zeros, np.int32(2), log_curr, log_prev,
          none=None, rtol=1e-10)
    for active in range(1, 8):
        n, out = K.ctc_update_log_p(skip, zeros, active, log_curr, log_prev)
        want = _np_update(skip, zeros, active, log_curr, log_prev)
        assert int(n) == want[0] and n.dtype == np.int32
        np.testing.assert_allclose(out, want[1], rtol=1e-12)
        # filler positions (>= len) and skips at or beyond `active` are ignored
        n2, out2 = K.ctc_update_log_p(np.array([1, 7, 7, 3]), zeros, active, log_curr,
                                      log_prev)
        want = _np_update(np.array([1, 3]), zeros, active, log_curr, log_prev)
        assert int(n2) == want[0]
        np.testing.assert_allclose(out2, want[1], rtol=1e-12)


def test_ctc_update_log_p_fills_with_zeros_argument():
    zeros = np.full(5, -7.0)
    n, out = K.ctc_update_log_p(np.array([1]), zeros, 1, np.zeros(5), np.zeros(5))
    assert int(n) == 2
    np.testing.assert_allclose(out, [0.0, 0.0, -7.0, -7.0, -7.0])
    with pytest.raises(ValueError, match="zeros must be a 1-D vector"):
        K.ctc_update_log_p(np.array([1]), np.zeros((2, 2)), 1, np.zeros(4), np.zeros(4))


def _np_path_probs(predict, y, alpha=1e-4):
    """Forward-backward with the recursion above, in NumPy."""
    s = len(y)
    cols = np.where(y < 0, y + predict.shape[1], y)
    log_y = np.log((1 - alpha) * predict[:, cols] + alpha / s)
    zeros = np.zeros(s)

    def run(seq, yy):
        skip = _np_skip_idxs(yy)
        act, logs, a, lp = [], [], 1, zeros
        for row in seq:
            a, lp = _np_update(skip, zeros, a, row, lp)
            act.append(a)
            logs.append(lp)
        return np.array(act), np.array(logs)

    fa, lf = run(log_y, y)
    ba, lb = run(log_y[::-1, ::-1], y[::-1])
    pos = np.arange(s)[None]
    mask = (pos < fa[:, None]) & (pos < ba[:, None])[::-1, ::-1]
    return lf + lb[::-1, ::-1] - log_y, mask


PATH_CASES = [([0, 1, 1], 5), ([2, 0], 4), ([1], 1), ([1, 1], 3)]


def test_ctc_path_probs():
    for labels, t in PATH_CASES:
        predict = _probs(np.random.default_rng(t), 1, t, 3, np.float64)[0]
        y = np.asarray(K.ctc_interleave_blanks(np.array(labels)))
        lp_ref, mask_ref = _np_path_probs(predict, y)
        lp, mask = K.ctc_path_probs(predict, y)
        np.testing.assert_array_equal(mask, mask_ref)
        np.testing.assert_allclose(np.where(mask, lp, 0), np.where(mask_ref, lp_ref, 0),
                                   rtol=1e-10)
        # every time step accounts for the whole (smoothed) label probability
        exact = _labelling_probs_smoothed(predict, y)
        for row, m in zip(np.asarray(lp), np.asarray(mask)):
            np.testing.assert_allclose(np.log(np.sum(np.exp(row[m]))), np.log(exact),
                                       rtol=1e-9)


def test_ctc_path_probs_symbolic_and_alpha():
    predict = _probs(np.random.default_rng(5), 1, 5, 3, np.float64)[0]
    y = np.asarray(K.ctc_interleave_blanks(np.array([0, 1, 1])))
    lp_ref, mask_ref = _np_path_probs(predict, y, alpha=0.1)
    P = K.placeholder((None, 3), dtype="float64")
    Y = K.placeholder((len(y),), dtype=y.dtype)
    lp_s, mask_s = K.ctc_path_probs(P, Y, alpha=0.1)
    assert K.int_shape(lp_s) == (None, 7) and K.dtype(mask_s) == "bool"
    lp, mask = K.function([P, Y], [lp_s, mask_s])([predict, y])
    np.testing.assert_array_equal(mask, mask_ref)
    np.testing.assert_allclose(np.where(mask, lp, 0), np.where(mask_ref, lp_ref, 0),
                               rtol=1e-10)


def _labelling_probs_smoothed(predict, y, alpha=1e-4):
    """Sum over alignments of the interleaved sequence with smoothed state scores."""
    s = len(y)
    t = predict.shape[0]
    cols = np.where(y < 0, y + predict.shape[1], y)
    sm = (1 - alpha) * predict[:, cols] + alpha / s
    total = 0.0
    for states in itertools.product(range(s), repeat=t):
        if states[0] > 1 or states[-1] < s - 2:
            continue
        ok = True
        for a, b in zip(states, states[1:]):
            if not (b == a or b == a + 1 or (b == a + 2 and y[b] != -1 and y[b] != y[a])):
                ok = False
                break
        if ok:
            total += np.prod(sm[np.arange(t), states])
    return total


def _ref_ctc_cost(predict, labels):
    y = np.asarray(K.ctc_interleave_blanks(np.asarray(labels)))
    return -np.log(_labelling_probs_smoothed(predict, y))


def test_ctc_cost():
    predict = _probs(np.random.default_rng(5), 1, 5, 3, np.float64)[0]
    y = np.array([0, 1, 1])
    check(K.ctc_cost, lambda p, y: np.array(_ref_ctc_cost(p, y)), predict, y, none=None,
          rtol=1e-9)
    for labels, t in [([1, 0], 3), ([0], 2), ([1, 1, 0], 4)]:
        predict = _probs(np.random.default_rng(t), 1, t, 3, np.float64)[0]
        got = K.ctc_cost(predict, np.array(labels))
        np.testing.assert_allclose(got, _ref_ctc_cost(predict, labels), rtol=1e-9)
        # without the smoothing it is the plain CTC NLL: close to the brute force one
        plain = -np.log(_labelling_probs(predict)[tuple(labels)])
        np.testing.assert_allclose(got, plain, rtol=1e-2)
    # labels that cannot fit: probability 0
    assert np.isposinf(K.ctc_cost(predict[:2], np.array([1, 1, 0])))


def test_ctc_cost_grads():
    predict = _probs(np.random.default_rng(5), 1, 5, 3, np.float64)[0]
    y = np.array([0, 1, 1])
    check_grads(jax.jit(lambda p: K.ctc_cost(p, y)), (predict,), order=1, modes=["rev"])


def test_ctc_cost_bad_input():
    with pytest.raises(ValueError, match=r"ctc_cost: predict must have shape \(time, classes\)"):
        K.ctc_cost(np.ones((1, 2, 3)), np.array([0]))
    with pytest.raises(ValueError, match="ctc_path_probs: expected a 1-D label sequence"):
        K.ctc_path_probs(np.ones((2, 3)), np.ones((2, 2), np.int32))
