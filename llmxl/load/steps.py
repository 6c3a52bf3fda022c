"""The time of one engine step over a mixed batch: decodes beside prefill chunks (docs/methodology.md).

A serving engine's step runs every decoding sequence one token further and, beside them, chunks of
prompts being prefilled. Its time is the `serving` method's forward pass with the batch described by
its totals instead of b equal sequences:

- D decoding sequences, their contexts summing to ``dec_ctx`` (tokens cached before the step; the
  window layers' sum ``dec_ctx_w`` counts each at most W);
- prefill chunks of ``pre_tokens`` new tokens in all, which attend on average to ``pre_attend`` tokens
  each (Σ s_j (c_j + (s_j + 1) / 2) over chunks of s_j tokens on c_j cached ones), read ``pre_cached``
  cached tokens, and ``pre_done`` of which finish their prompt and sample a first token.

With one chunk type alone, :func:`step_time` equals :func:`llmxl.serving.forward` exactly (a test
shows it). Every argument may be a float or a numpy array (a run of steps at once); pure arithmetic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..serving import ServingTerms

__all__ = ["Rates", "step_time"]


class Rates(NamedTuple):
    """What the step time needs besides the batch: the configuration's terms and its achieved rates."""

    T: ServingTerms
    F: float
    """Achieved FLOP/s (peak × FLOPs efficiency)."""
    M: float
    """Achieved bytes/s (bandwidth × HBM efficiency)."""
    decode_overhead_s: float
    """Fixed cost of a step [s]: L τL + τDec (or the engine's own)."""
    prefill_overhead_s: float
    """Fixed cost of a step that prefills [s]: L τL + τPre (or the engine's own)."""
    spec: Any = None
    """The speculative decoder (:class:`llmxl.speculative.Speculation`), or None: each decode then carries
    k + 1 tokens to verify, and k draft passes run before the step."""
    prefill_scale: float = 1.0
    """κP, what prompt tokens add to a step's time relative to the roofline (1: the roofline's own)."""


def step_time(
    r: Rates,
    D: Any,
    dec_ctx: Any,
    pre_tokens: Any = 0.0,
    pre_attend: Any = 0.0,
    pre_cached: Any = 0.0,
    pre_done: Any = 0.0,
    dec_ctx_w: Any = None,
    pre_attend_w: Any = None,
    pre_cached_w: Any = None,
    mx: Any = max,
) -> Any:
    """Seconds of one step (:func:`roofline_step`), what its prompt tokens add scaled by κP (``r.prefill_scale``):
    t = t(D decodes alone) + κP (t(D, prompts) − t(D decodes alone))."""
    t = roofline_step(r, D, dec_ctx, pre_tokens, pre_attend, pre_cached, pre_done, dec_ctx_w, pre_attend_w,
                      pre_cached_w, mx)  # fmt: skip
    if r.prefill_scale == 1.0:
        return t
    alone = roofline_step(r, D, dec_ctx, 0.0, 0.0, 0.0, 0.0, dec_ctx_w, None, None, mx)
    return alone + r.prefill_scale * (t - alone)


def roofline_step(
    r: Rates,
    D: Any,
    dec_ctx: Any,
    pre_tokens: Any = 0.0,
    pre_attend: Any = 0.0,
    pre_cached: Any = 0.0,
    pre_done: Any = 0.0,
    dec_ctx_w: Any = None,
    pre_attend_w: Any = None,
    pre_cached_w: Any = None,
    mx: Any = max,
) -> Any:
    """Seconds of one step of D decodes (contexts summing to dec_ctx) and prefill chunks.

    Notes
    -----
    N = D + P tokens. Full-attention layers: FLOPs 2 N PA + score (D + Σc) + score_pre (Σ s x);
    bytes PA Bw + κ (Σc + D + Σc_pre + P). Window layers the same with contexts capped at W. MLP as
    in forward() over N tokens; output head over the D + pre_done sequences that sample; the step's
    fixed cost τPre when it prefills, else τDec.
    """
    (
        n_full,
        n_window,
        _W,
        PA2,
        PA_bytes,
        kappa,
        mla,
        c_score,
        c_score_latent,
        n_dense,
        PD2,
        PD_bytes,
        n_moe,
        E,
        q,
        PE_bytes,
        moe_flops2,
        moe_fixed_bytes,
        comm_fixed,
        c_comm,
        c_head,
        head_bytes,
        _overhead_pre,
        _overhead_dec,
    ) = r.T.coefficients
    F, M = r.F, r.M
    spec = r.spec
    if spec is None:
        Dv = D
    else:  # each decode verifies k drafts: k + 1 tokens at contexts c + 1 ... c + k + 1
        v = spec.k + 1
        Dv = D * v
    N = Dv + pre_tokens
    lin_flops = PA2 * N
    dec_score = c_score_latent if mla else c_score
    attention = 0.0
    if n_full:
        dec_att = dec_ctx + D if spec is None else v * dec_ctx + D * (v * (v + 1) / 2)
        flops = lin_flops + dec_score * dec_att + c_score * pre_attend
        attention = n_full * mx(flops / F, (PA_bytes + kappa * (dec_ctx + Dv + pre_cached + pre_tokens)) / M)
    if n_window:
        dw = dec_ctx if dec_ctx_w is None else dec_ctx_w
        aw = pre_attend if pre_attend_w is None else pre_attend_w
        cw = pre_cached if pre_cached_w is None else pre_cached_w
        dec_att = dw + D if spec is None else v * dw + D * (v * (v + 1) / 2)
        flops = lin_flops + dec_score * dec_att + c_score * aw
        attention = attention + n_window * mx(flops / F, (PA_bytes + kappa * (dw + Dv + cw + pre_tokens)) / M)
    mlp = 0.0
    if n_dense:
        mlp = n_dense * mx(PD2 * N / F, PD_bytes / M)
    if n_moe:
        mlp = mlp + n_moe * mx(moe_flops2 * N / F, (E * (1 - q**N) * PE_bytes + moe_fixed_bytes) / M)
    head = mx(c_head * (Dv + pre_done) / F, head_bytes / M)
    if isinstance(pre_tokens, (int, float)):
        overhead = r.prefill_overhead_s if pre_tokens > 0 else r.decode_overhead_s
    else:
        import numpy as np

        overhead = np.where(pre_tokens > 0, r.prefill_overhead_s, r.decode_overhead_s)
    if spec is not None:
        overhead = overhead + spec.draft_s(D, dec_ctx, F, M, mx)
    return attention + mlp + comm_fixed + c_comm * N + head + overhead
