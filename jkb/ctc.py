"""Connectionist temporal classification: loss, decoders and the Theano-era helpers.

Conventions shared by the batched functions (Keras 2.3.1 / TF): ``y_pred`` holds softmax
*probabilities* of shape (batch, time, classes), the blank is the last class, and
``log(y_pred + epsilon())`` is what the CTC machinery sees.

* :func:`ctc_batch_cost` feeds those log values (as logits, renormalized exactly like TF's
  ``ctc_loss`` does) to ``optax.ctc_loss``.
* :func:`ctc_decode` is pure ``jax`` with static shapes, so it works eagerly, in
  ``K.eval`` and inside compiled ``K.function`` programs alike. Beam search is a CTC prefix
  beam search over a fixed number ``beam_width`` of prefixes (so it needs no host
  callback): every step scores the "stay" continuation of each prefix and its one-label
  extensions, merges the extensions that coincide with an existing prefix (found by
  prefix hashes), and keeps the ``beam_width`` best. Its scores are exact prefix
  log-probabilities; with a beam wide enough for every labelling it is exact decoding.
  Decoded tensors have static width ``time`` (a decoded sequence can never be longer),
  padded with -1.
* ``ctc_interleave_blanks``, ``ctc_create_skip_idxs``, ``ctc_update_log_p``,
  ``ctc_path_probs`` and ``ctc_cost`` are the single-sequence helpers of the Theano backend
  (blank written as -1 in the interleaved label sequence, i.e. the last class of
  ``predict``); they are not re-exported by ``keras.backend``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jax.experimental.sparse import BCOO

from . import config
from .core import Tensor, _Tracer, asarray, is_symbolic_input, op

__all__ = [
    "ctc_label_dense_to_sparse", "ctc_batch_cost", "ctc_decode", "ctc_cost",
    "ctc_create_skip_idxs", "ctc_interleave_blanks", "ctc_path_probs", "ctc_update_log_p",
]

_NEG_INF = -np.inf


def _concrete(*xs) -> bool:
    return not any(isinstance(x, _Tracer) for x in xs)


def _lengths(x, batch, name, op_name):
    """A (batch,) int32 vector from a (batch,) or (batch, 1) length tensor."""
    x = asarray(x)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1 or x.shape[0] != batch:
        raise ValueError(f"{op_name}: {name} must have shape ({batch}, 1) or ({batch},). "
                         f"Received: {name}.shape={tuple(x.shape)}")
    return x.astype(jnp.int32)


def _float_pred(y_pred, op_name):
    y_pred = asarray(y_pred)
    if y_pred.ndim != 3:
        raise ValueError(f"{op_name}: y_pred must have shape (batch, time, classes). "
                         f"Received: y_pred.shape={tuple(y_pred.shape)}")
    if y_pred.shape[2] < 1:
        raise ValueError(f"{op_name}: y_pred needs at least one class (the blank). "
                         f"Received: y_pred.shape={tuple(y_pred.shape)}")
    if not jnp.issubdtype(y_pred.dtype, jnp.floating):
        y_pred = y_pred.astype(config.floatx())
    return y_pred


def _compact(values, keep):
    """Moves the kept entries of each row to the front, in order; the rest become -1."""
    n = values.shape[-1]
    pos = jnp.where(keep, jnp.cumsum(keep, axis=-1) - 1, n)
    rows = jnp.arange(values.shape[0])[:, None]
    out = jnp.full(values.shape, -1, config.index_dtype())
    return out.at[rows, pos].set(values.astype(out.dtype), mode="drop")


# ----------------------------------------------------------------------------- dense->sparse


@op(name="ctc_label_dense_to_sparse")
def _dense_to_sparse(labels, label_lengths):
    labels = asarray(labels)
    if labels.ndim != 2:
        raise ValueError("ctc_label_dense_to_sparse: labels must have shape (batch, max_len). "
                         f"Received: labels.shape={tuple(labels.shape)}")
    b, n = labels.shape
    lengths = _lengths(label_lengths, b, "label_lengths", "ctc_label_dense_to_sparse")
    valid = jnp.arange(n)[None, :] < lengths[:, None]
    rows = jnp.broadcast_to(jnp.arange(b, dtype=jnp.int32)[:, None], (b, n))
    cols = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[None, :], (b, n))
    # Entries past a row's length become padding: zero at the out-of-range index (b, n).
    indices = jnp.stack([jnp.where(valid, rows, b), jnp.where(valid, cols, n)], axis=-1)
    data = jnp.where(valid, labels, jnp.zeros((), labels.dtype))
    return BCOO((data.reshape(-1), indices.reshape(-1, 2)), shape=(b, n),
                indices_sorted=False, unique_indices=True)


def ctc_label_dense_to_sparse(labels, label_lengths):
    """Sparse (BCOO) form of padded labels (batch, max_len), keeping the first
    ``label_lengths[i]`` labels of row i; densifies back with zeros elsewhere."""
    out = _dense_to_sparse(labels, label_lengths)
    if isinstance(out, Tensor):
        out.sparse = True
    return out


# ----------------------------------------------------------------------------- loss


def _check_ctc_inputs(labels, label_len, input_len, num_classes, time):
    """Host-side validation, possible only when the values are concrete (eager use)."""
    labels, label_len, input_len = map(np.asarray, (labels, label_len, input_len))
    n = labels.shape[1]
    for i, (ll, il) in enumerate(zip(label_len, input_len)):
        if ll < 0 or ll > n:
            raise ValueError(f"ctc_batch_cost: label_length[{i}]={ll} is outside [0, {n}] "
                             f"for y_true of shape {labels.shape}.")
        if il < 0 or il > time:
            raise ValueError(f"ctc_batch_cost: input_length[{i}]={il} is outside [0, {time}] "
                             f"for y_pred with {time} time steps.")
        seq = labels[i, :ll]
        if seq.size and (seq.min() < 0 or seq.max() >= num_classes - 1):
            raise ValueError(f"ctc_batch_cost: labels of sample {i} must lie in "
                             f"[0, {num_classes - 2}] (class {num_classes - 1} is the "
                             f"blank). Received: {seq.tolist()}")
        required = ll + int(np.sum(seq[1:] == seq[:-1]))
        if required > il:
            raise ValueError(f"ctc_batch_cost: not enough time steps for the labels of "
                             f"sample {i}: {required} required (labels plus repeats), "
                             f"input_length={il}.")


@op(name="ctc_batch_cost")
def _ctc_batch_cost(y_true, y_pred, input_length, label_length, eps):
    y_pred = _float_pred(y_pred, "ctc_batch_cost")
    b, t, c = y_pred.shape
    y_true = asarray(y_true)
    if y_true.ndim != 2 or y_true.shape[0] != b:
        raise ValueError("ctc_batch_cost: y_true must have shape (batch, max_label_len) "
                         f"with the batch of y_pred. Received: y_true.shape="
                         f"{tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}")
    labels = y_true.astype(jnp.int32)
    il = _lengths(input_length, b, "input_length", "ctc_batch_cost")
    ll = _lengths(label_length, b, "label_length", "ctc_batch_cost")
    if _concrete(labels, il, ll):
        _check_ctc_inputs(labels, ll, il, c, t)
    return _ctc_loss_core(labels, y_pred, il, ll, eps)


@jax.jit
def _ctc_loss_core(labels, y_pred, il, ll, eps):
    # jitted so that eager calls run one compiled program instead of many small ops
    b, t, c = y_pred.shape
    n = labels.shape[1]
    dt = y_pred.dtype
    label_pad = jnp.arange(n)[None, :] >= ll[:, None]
    # Padded label slots hold the blank: it never equals a real label, so optax's
    # repeat detection cannot see a false repeat at the end of a sequence.
    labels = jnp.where(label_pad, c - 1, labels)
    logit_pad = jnp.arange(t)[None, :] >= il[:, None]
    logits = jnp.log(y_pred + asarray(eps, dt))
    loss = optax.ctc_loss(logits, logit_pad.astype(dt), labels, label_pad.astype(dt),
                          blank_id=c - 1)
    # optax stands in a large finite number for log(0); an impossible alignment (fewer
    # steps than labels plus repeats) is an infinite loss, as in TF.
    repeats = jnp.sum((labels[:, 1:] == labels[:, :-1]) & ~label_pad[:, 1:], axis=1)
    loss = jnp.where(ll + repeats > il, jnp.inf, loss)
    return loss.astype(dt)[:, None]


def ctc_batch_cost(y_true, y_pred, input_length, label_length):
    """Per-sample CTC negative log-likelihood, shape (batch, 1).

    ``y_true``: (batch, max_label_len) labels (only the first ``label_length`` of each row
    count); ``y_pred``: (batch, time, classes) softmax probabilities, blank = last class;
    ``input_length``/``label_length``: (batch, 1). With concrete inputs, labels that need
    more steps than ``input_length`` raise ValueError; inside a compiled function they give
    an infinite loss.
    """
    return _ctc_batch_cost(y_true, y_pred, input_length, label_length, config.epsilon())


# ----------------------------------------------------------------------------- decoding


@op(name="ctc_greedy_decode")
def _ctc_greedy(y_pred, input_length, eps):
    y_pred = _float_pred(y_pred, "ctc_decode")
    il = _lengths(input_length, y_pred.shape[0], "input_length", "ctc_decode")
    return _greedy_core(y_pred, il, eps)


@jax.jit
def _greedy_core(y_pred, il, eps):
    b, t, c = y_pred.shape
    logits = jnp.log(y_pred + asarray(eps, y_pred.dtype))
    best = jnp.argmax(logits, axis=-1)
    in_seq = jnp.arange(t)[None, :] < il[:, None]
    prev = jnp.concatenate([jnp.full((b, 1), -1, best.dtype), best[:, :-1]], axis=1)
    keep = in_seq & (best != c - 1) & (best != prev)
    # TF's greedy decoder reports minus the summed best log-values (a positive number).
    score = -jnp.sum(jnp.where(in_seq, jnp.max(logits, axis=-1), 0), axis=1, keepdims=True)
    return (_compact(best, keep),), score.astype(y_pred.dtype)


_HASH_BASES = (np.uint32(1000003), np.uint32(2654435761))


def _beam_search_one(logp, length, width):
    """Prefix beam search over one sequence: logp (time, classes), blank last.

    Returns the final prefixes (width, time) padded with -1, sorted by decreasing total
    log-probability, and those log-probabilities.

    Prefixes are identified by their length and two 32-bit polynomial hashes (a false
    match needs both to collide: odds around 2**-64 per comparison), which keeps a step at
    O(width * (width + classes)) instead of comparing whole prefixes.
    """
    t_max, c = logp.shape
    k = c - 1
    blank = c - 1
    steps = jnp.arange(t_max)
    labels = jnp.arange(k)
    zeros_h = jnp.zeros((2, width), jnp.uint32)
    init = dict(
        pref=jnp.full((width, t_max), -1, jnp.int32),
        plen=jnp.zeros((width,), jnp.int32),
        last=jnp.full((width,), -1, jnp.int32),
        hash=zeros_h,          # hash of the prefix
        parent_hash=zeros_h,   # hash of the prefix without its last label
        p_blank=jnp.full((width,), _NEG_INF, logp.dtype).at[0].set(0),
        p_label=jnp.full((width,), _NEG_INF, logp.dtype),
    )
    if k == 0:  # only the blank class: the empty labelling is certain
        return init["pref"], jnp.logaddexp(init["p_blank"], init["p_label"])
    bases = asarray(_HASH_BASES)[:, None]

    def step(st, xs):
        y, t = xs
        plen, last, p_blank, p_label = st["plen"], st["last"], st["p_blank"], st["p_label"]
        total = jnp.logaddexp(p_blank, p_label)
        alive = total > _NEG_INF
        lq = jnp.maximum(last, 0)
        # Staying on a prefix: a blank, or a repeat of its last label merged into it.
        stay_blank = total + y[blank]
        stay_label = jnp.where(plen > 0, p_label + y[lq], _NEG_INF)
        # Extending by label l: after a repeat of the last label only a blank-ended path
        # may extend (otherwise the repeat would be merged).
        ext = y[:k][None, :] + jnp.where(labels[None, :] == last[:, None],
                                         p_blank[:, None], total[:, None])
        # An extension (j, l) that spells an existing prefix q (= prefix j + l) is merged
        # into q and removed from the candidates.
        h, ph = st["hash"], st["parent_hash"]
        parent = (jnp.all(ph[:, :, None] == h[:, None, :], axis=0)
                  & (plen[:, None] == plen[None, :] + 1) & alive[:, None] & alive[None, :])
        has_parent = jnp.any(parent, axis=1)
        j = jnp.argmax(parent, axis=1)
        stay_label = jnp.where(has_parent, jnp.logaddexp(stay_label, ext[j, lq]), stay_label)
        ext = ext.at[jnp.where(has_parent, j, width), lq].set(_NEG_INF, mode="drop")
        stay_total = jnp.logaddexp(stay_blank, stay_label)
        scores = jnp.concatenate([stay_total, ext.reshape(-1)])
        _, idx = lax.top_k(scores, width)
        is_ext = idx >= width
        e = jnp.maximum(idx - width, 0)
        src = jnp.where(is_ext, e // k, idx)
        lab = (e % k).astype(jnp.int32)
        src_len = plen[src]
        ext_hash = h[:, src] * bases + (lab + 1).astype(jnp.uint32)[None, :]
        new = dict(
            pref=jnp.where(is_ext[:, None] & (steps[None, :] == src_len[:, None]),
                           lab[:, None], st["pref"][src]),
            plen=(src_len + is_ext).astype(jnp.int32),
            last=jnp.where(is_ext, lab, last[src]),
            hash=jnp.where(is_ext[None, :], ext_hash, h[:, src]),
            parent_hash=jnp.where(is_ext[None, :], h[:, src], ph[:, src]),
            p_blank=jnp.where(is_ext, _NEG_INF, stay_blank[src]),
            p_label=jnp.where(is_ext, ext.reshape(-1)[e], stay_label[src]),
        )
        live = t < length
        return jax.tree_util.tree_map(lambda a, b: jnp.where(live, a, b), new, st), None

    st, _ = lax.scan(step, init, (logp, steps))
    total = jnp.logaddexp(st["p_blank"], st["p_label"])
    # Scores are already sorted by the last top_k (or the initial state if no step ran).
    pref = jnp.where((total > _NEG_INF)[:, None], st["pref"], -1)
    return pref, total


@op(name="ctc_beam_decode")
def _ctc_beam(y_pred, input_length, eps, width, top_paths, merge_repeated):
    y_pred = _float_pred(y_pred, "ctc_decode")
    il = _lengths(input_length, y_pred.shape[0], "input_length", "ctc_decode")
    return _beam_core(y_pred, il, eps, width, top_paths, merge_repeated)


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _beam_core(y_pred, il, eps, width, top_paths, merge_repeated):
    b = y_pred.shape[0]
    # The log-values are renormalized per step (as TF's decoder does since 1.11), so
    # the scores are the log-probabilities of the decoded labellings.
    logp = jax.nn.log_softmax(jnp.log(y_pred + asarray(eps, y_pred.dtype)), axis=-1)
    pref, total = jax.vmap(_beam_search_one, in_axes=(0, 0, None))(logp, il, width)
    pref, total = pref[:, :top_paths], total[:, :top_paths]
    decoded = []
    for i in range(top_paths):
        seq = pref[:, i]
        keep = seq >= 0
        if merge_repeated:
            prev = jnp.concatenate([jnp.full((b, 1), -1, seq.dtype), seq[:, :-1]], axis=1)
            keep = keep & (seq != prev)
        decoded.append(_compact(seq, keep))
    return tuple(decoded), total.astype(y_pred.dtype)


def ctc_decode(y_pred, input_length, greedy=True, beam_width=100, top_paths=1,
               merge_repeated=False):
    """Decodes softmax output (batch, time, classes); blank = last class.

    Returns ``(decoded, log_prob)``: ``decoded`` a list of ``top_paths`` int64 tensors
    (batch, time) holding each decoded sequence followed by -1 padding, ``log_prob``
    (batch, top_paths). Greedy (best path, repeats merged, blanks dropped; one path) scores
    each row, as TF does, by minus the sum of the best log-values. Beam search returns the
    ``top_paths`` most probable labellings found with ``beam_width`` prefixes and their
    log-probabilities; ``merge_repeated`` additionally collapses equal neighbours in them.
    """
    eps = config.epsilon()
    if greedy:
        decoded, log_prob = _ctc_greedy(y_pred, input_length, eps)
        return list(decoded), log_prob
    width, paths = int(beam_width), int(top_paths)
    if width < 1:
        raise ValueError(f"ctc_decode: beam_width must be >= 1, got {beam_width}.")
    if not 1 <= paths <= width:
        raise ValueError(f"ctc_decode: top_paths must be in [1, beam_width={width}], "
                         f"got {top_paths}.")
    decoded, log_prob = _ctc_beam(y_pred, input_length, eps, width, paths,
                                  bool(merge_repeated))
    return list(decoded), log_prob


# ----------------------------------------------------------------------------- Theano helpers


def _int_labels(y, op_name):
    y = asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{op_name}: expected a 1-D label sequence. "
                         f"Received: Y.shape={tuple(y.shape)}")
    if jnp.issubdtype(y.dtype, jnp.unsignedinteger) or y.dtype == jnp.bool_:
        raise TypeError(f"{op_name}: labels need a signed dtype (the blank is -1). "
                        f"Received: Y.dtype={y.dtype}")
    return y


@op(name="ctc_interleave_blanks")
def _interleave(y):
    return _interleave_core(_int_labels(y, "ctc_interleave_blanks"))


@jax.jit
def _interleave_core(y):
    out = jnp.full((2 * y.shape[0] + 1,), -1, y.dtype)
    return out.at[1::2].set(y)


def ctc_interleave_blanks(Y):
    """[y0, y1, ...] -> [-1, y0, -1, y1, ..., -1]: a blank (-1) around every label."""
    return _interleave(Y)


def _skip_mask(y):
    """Bool (S,): label positions s (odd, not the last label) with y[s] != y[s + 2]."""
    s = y.shape[0]
    n = max((s - 3) // 2, 0)
    pos = jnp.arange(s)
    cand = (pos % 2 == 1) & (pos // 2 < n)
    nxt = jnp.concatenate([y[2:], jnp.full((min(2, s),), -1, y.dtype)]) if s else y
    return cand & (y != nxt)


@op(name="ctc_create_skip_idxs")
def _skip_idxs_padded(y):
    y = _int_labels(y, "ctc_create_skip_idxs")
    n = max((y.shape[0] - 3) // 2, 0)
    return jnp.nonzero(_skip_mask(y), size=n, fill_value=y.shape[0])[0].astype(
        config.index_dtype())


def ctc_create_skip_idxs(Y):
    """Positions in an interleaved label sequence from which a path may skip the next
    blank (labels that differ from the following label), as int64.

    Concrete input gives exactly those positions. The count depends on the values, so a
    symbolic or traced ``Y`` gets a fixed-size vector: the positions followed by
    ``len(Y)`` as filler, which :func:`ctc_update_log_p` ignores.
    """
    if is_symbolic_input(Y) or isinstance(Y, _Tracer):
        return _skip_idxs_padded(Y)
    y = np.asarray(_int_labels(Y, "ctc_create_skip_idxs"))
    cand = np.arange(max((y.shape[0] - 3) // 2, 0)) * 2 + 1
    return asarray(cand[y[cand] != y[cand + 2]], config.index_dtype())


def _safe_log(q):
    pos = q > 0
    return jnp.where(pos, jnp.log(jnp.where(pos, q, 1)), _NEG_INF)


def _update(skip, zeros, active, log_p_curr, log_p_prev):
    """One forward step over S states with a skip mask; see ctc_update_log_p."""
    s = zeros.shape[0]
    pos = jnp.arange(s)
    active = asarray(active, jnp.int32)
    in_active = pos < active
    skip = skip & in_active
    last_skip = jnp.max(jnp.where(skip, pos, -1)) if s else jnp.int32(-1)
    active_next = jnp.minimum(jnp.maximum(active + 1, last_skip + 3), s).astype(jnp.int32)
    common = jnp.max(jnp.where(in_active, log_p_prev, _NEG_INF))
    common = jnp.where(jnp.isfinite(common), common, 0)
    p = jnp.where(in_active, jnp.exp(jnp.where(in_active, log_p_prev - common, 0)), 0)
    zero2 = jnp.zeros((min(2, s),), p.dtype)
    shift1 = jnp.concatenate([zero2[:1], p[:-1]])
    shift2 = jnp.concatenate([zero2, jnp.where(skip, p, 0)[:-2]])[:s]
    q = p + shift1 + shift2
    out = jnp.where(pos < active_next, log_p_curr + _safe_log(q) + common, zeros)
    return active_next, out


@op(name="ctc_update_log_p")
def _update_log_p(skip_idxs, zeros, active, log_p_curr, log_p_prev):
    zeros = asarray(zeros)
    if zeros.ndim != 1:
        raise ValueError("ctc_update_log_p: zeros must be a 1-D vector over the states. "
                         f"Received: zeros.shape={tuple(zeros.shape)}")
    return _update_log_p_core(skip_idxs, zeros, active, log_p_curr, log_p_prev)


@jax.jit
def _update_log_p_core(skip_idxs, zeros, active, log_p_curr, log_p_prev):
    s = zeros.shape[0]
    idx = asarray(skip_idxs).astype(jnp.int32).reshape(-1)
    idx = jnp.where(idx < 0, s, idx)  # negative positions are not states
    skip = jnp.zeros((s,), bool).at[idx].set(True, mode="drop")
    return _update(skip, zeros, active, asarray(log_p_curr), asarray(log_p_prev))


def ctc_update_log_p(skip_idxs, zeros, active, log_p_curr, log_p_prev):
    """One step of the CTC forward recursion in log space over S interleaved states.

    Only the first ``active`` states of ``log_p_prev`` are reachable. Each new state s
    collects states s, s-1 and, when s-2 is a skip position, s-2; ``log_p_curr`` is then
    added. Returns ``(active_next, log_p_next)``: the new number of reachable states
    (int32) and the new log-probabilities, equal to ``zeros`` from ``active_next`` on.
    """
    return _update_log_p(skip_idxs, zeros, active, log_p_curr, log_p_prev)


@op(name="ctc_path_probs")
def _path_probs(predict, y, alpha):
    predict = asarray(predict)
    if predict.ndim != 2:
        raise ValueError("ctc_path_probs: predict must have shape (time, classes). "
                         f"Received: predict.shape={tuple(predict.shape)}")
    y = _int_labels(y, "ctc_path_probs")
    return _path_probs_core(predict, y, alpha)


@jax.jit
def _path_probs_core(predict, y, alpha):
    c = predict.shape[1]
    s = y.shape[0]
    cols = jnp.where(y < 0, y + c, y).astype(jnp.int32)  # -1 (the blank): last class
    smoothed = (1 - alpha) * predict[:, cols] + alpha / s
    log_y = jnp.log(smoothed)
    zeros = jnp.zeros((s,), log_y.dtype)

    def run(skip, seq):
        def body(carry, log_curr):
            active, log_prev = carry
            nxt = _update(skip, zeros, active, log_curr, log_prev)
            return nxt, nxt

        _, (act, logs) = lax.scan(body, (jnp.int32(1), zeros), seq)
        return act, logs

    f_act, log_f = run(_skip_mask(y), log_y)
    b_act, log_b = run(_skip_mask(y[::-1]), log_y[::-1, ::-1])
    pos = jnp.arange(s)[None, :]
    mask = (pos < f_act[:, None]) & (pos < b_act[:, None])[::-1, ::-1]
    return log_f + log_b[::-1, ::-1] - log_y, mask


def ctc_path_probs(predict, Y, alpha=1e-4):
    """Forward-backward over one sequence: ``predict`` (time, classes) probabilities,
    ``Y`` the blank-interleaved labels (blank = -1 = last class).

    Probabilities are smoothed to ``(1 - alpha) * p + alpha / len(Y)``. Returns
    ``(log_probs, mask)``, both (time, len(Y)): ``log_probs[t, s]`` is the log of the total
    probability of the paths through state s at time t, valid where ``mask`` is True.
    """
    return _path_probs(predict, Y, float(alpha))


@op(name="ctc_cost")
def _ctc_cost(predict, y):
    predict = asarray(predict)
    if predict.ndim != 2:
        raise ValueError("ctc_cost: predict must have shape (time, classes). "
                         f"Received: predict.shape={tuple(predict.shape)}")
    return _ctc_cost_core(predict, _interleave_core(_int_labels(y, "ctc_cost")))


@jax.jit
def _ctc_cost_core(predict, y):
    log_probs, mask = _path_probs_core(predict, y, 1e-4)
    t = log_probs.shape[0]
    # Every time step's masked states partition all paths, so the sum over all steps is
    # t times the sequence probability.
    total = jax.nn.logsumexp(jnp.where(mask, log_probs, _NEG_INF)) - jnp.log(max(t, 1))
    return -total


def ctc_cost(predict, Y):
    """CTC negative log-likelihood of the label sequence ``Y`` (1-D, no blanks) under the
    probabilities ``predict`` (time, classes), blank = last class, smoothed as in
    :func:`ctc_path_probs` with ``alpha=1e-4``."""
    return _ctc_cost(predict, Y)
