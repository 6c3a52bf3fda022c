"""Speculative decoding as pure arithmetic over the `serving` terms (docs/methodology.md, "Speculative decoding").

A speculative decoder proposes k draft tokens per sequence, and one pass of the target model verifies them
together with the token it would have computed anyway: a forward over s = k + 1 new tokens of each sequence at
its context c (:func:`llmxl.serving.forward`), the output head over all k + 1 positions. With a per-position
acceptance α (each draft token is accepted, given that the ones before it were, with probability α; the
first rejected one is replaced by the target's own token), a step yields

    τ = 1 + α + α² + ... + α^k = (1 − α^(k+1)) / (1 − α)

tokens per sequence on average (Leviathan et al., 2023, eq. 1). The draft's cost per step:

- ``mtp`` (DeepSeek-V3's multi-token prediction module): k passes of one extra transformer block of the
  target's own shape (attention, then a MoE layer when the model has them, else a dense MLP), with its
  projection of [hidden; embedding] (2 h² parameters) and the shared output head;
- ``eagle3``: k passes of a one-layer draft head over the target's features: the target's attention and a
  dense MLP of the target's width f, a fusion projection of three layers' features (3 h² parameters) and a
  draft vocabulary of ``draft_vocab`` tokens;
- ``ngram``: a lookup in the tokens already seen, on the CPU: no GPU cost, no memory.

Each draft pass is charged through the same forward pass as one layer of the target (its roofline max of
FLOPs and bytes, two all-reduces, one layer's fixed cost τL), over the b sequences at context c. A model
draft keeps one layer's KV cache. Nothing here reads a catalog or prints.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from . import serving

__all__ = [
    "DRAFT_METHODS",
    "MAX_SPECULATIVE_TOKENS",
    "Speculation",
    "acceptance_from_length",
    "decode_step",
    "speculation",
    "tokens_per_step",
]

#: Methods of proposing draft tokens.
DRAFT_METHODS = ("mtp", "eagle3", "ngram")
#: Most draft tokens per step llmxl takes (engines run 1 to about 8; past 16 nothing is accepted in practice).
MAX_SPECULATIVE_TOKENS = 16


def tokens_per_step(alpha: float, k: int) -> float:
    """τ = (1 − α^(k+1)) / (1 − α): tokens a verification step yields per sequence (1 + k α at α → 0)."""
    if alpha == 0:
        return 1.0
    return (1 - alpha ** (k + 1)) / (1 - alpha)


def acceptance_from_length(length: float, k: int) -> float:
    """The per-position α whose τ over k drafts is ``length`` (bisection; 1 ≤ length < k + 1)."""
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if tokens_per_step(mid, k) < length:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class Speculation(NamedTuple):
    """A speculative decoder on one configuration: what the decode step and the memory need."""

    method: str
    k: int
    """Draft tokens per step (num_speculative_tokens)."""
    alpha: float
    """Per-position acceptance rate."""
    tau: float
    """Tokens per step and sequence, (1 − α^(k+1)) / (1 − α)."""
    draft: Any
    """The draft's one-layer serving terms (forward() over them is one draft pass); None for n-gram."""
    draft_weight_bytes: float
    """The draft's weights per GPU [bytes] (0 for n-gram)."""
    draft_kv_token_bytes: float
    """KV bytes one token of context adds to the draft's layer per GPU (0 for n-gram)."""

    def draft_parts(self, D: Any, dec_ctx: Any, F: Any, M: Any, mx: Any = max, mn: Any = min) -> tuple[Any, ...]:
        """The k draft passes of D sequences (contexts summing to dec_ctx) by component: (attention, mlp,
        communication, output head, overhead) [s]; zeros for n-gram and where there are no decodes."""
        if self.draft is None:
            zero = 0.0 * D
            return zero, zero, zero, zero, zero
        k = self.k
        if isinstance(D, (int, float)):
            if D <= 0:
                return 0.0, 0.0, 0.0, 0.0, 0.0
            return tuple(k * x for x in serving.forward(self.draft, D, 1, dec_ctx / D, F, M, False, mx, mn))
        import numpy as np

        safe = np.maximum(D, 1e-300)
        parts = serving.forward(self.draft, safe, 1, dec_ctx / safe, F, M, False, mx, mn)
        return tuple(np.where(D > 0, k * x, 0.0) for x in parts)

    def draft_s(self, D: Any, dec_ctx: Any, F: Any, M: Any, mx: Any = max, mn: Any = min) -> Any:
        """Seconds the k draft passes of D sequences (contexts summing to dec_ctx) take; 0 without decodes."""
        a, b, c, d, e = self.draft_parts(D, dec_ctx, F, M, mx, mn)
        return a + b + c + d + e


def speculation(
    T: serving.ServingTerms,
    method: str,
    k: int,
    alpha: float,
    *,
    moe_block: bool,
    f: int,
    draft_vocab: int,
) -> tuple[serving.ServingTerms, Speculation]:
    """(the serving terms with the draft's weights and KV cache in memory, the :class:`Speculation`).

    ``moe_block``: the MTP block is a MoE layer (the model has MoE layers); ``f``: the dense MLP width of an
    EAGLE-3 head; ``draft_vocab``: the EAGLE-3 head's vocabulary. The target's arithmetic (coefficients) is
    unchanged; its weights_per_gpu_bytes, free_bytes and c_kv gain the draft's.
    """
    tau = tokens_per_step(alpha, k)
    if method == "ngram":
        return T, Speculation(method, k, alpha, tau, None, 0.0, 0.0)
    c = T.coefficients
    h, t, Bw = T.h, T.t, T.weight_bytes
    L = T.L
    if method == "mtp":
        extra = 2 * h * h / t  # the projection of [normed hidden; normed embedding] back to h
        dense = not moe_block
        PD = T.dense_params  # the target's own dense MLP when the block is dense
        V_head = T.vocab
        own_head = 0.0  # shared with the target
    else:  # eagle3
        extra = 3 * h * h / t  # fusing low, middle and high features
        dense = True
        PD = 3 * h * f / t  # a gated (SwiGLU) MLP of the target's width, as the published heads have
        V_head = min(draft_vocab, T.vocab)
        own_head = V_head * h * T.emb_bytes / t
    PA = T.attn_params + extra
    PD = PD if dense else 0.0
    draft_coefficients = (
        1,  # one full-attention layer
        0,
        math.inf,
        2 * PA,
        PA * Bw,
        c[5],  # κ
        c[6],  # MLA
        c[7],
        c[8],
        1 if dense else 0,
        2 * PD,
        PD * Bw,
        0 if dense else 1,
        c[13],
        c[14],
        c[15],
        c[16],
        c[17],
        2 * T.allreduce_latency_s,
        2 * T.c_allreduce,
        2 * V_head * h / t,
        V_head * h * T.emb_bytes / t,
        T.layer_overhead_s / L,
        T.layer_overhead_s / L,
    )
    mlp_params = PD if dense else T.experts * T.expert_params + T.moe_fixed_params
    if T.dp > 1 or T.ep > 1:  # an expert/data-parallel layout (llmxl.parallel): the draft runs as its layers do
        draft_coefficients, mlp_params = _layout_draft(T, draft_coefficients, dense, PD)
    draft = T._replace(coefficients=draft_coefficients)
    weights = (PA + mlp_params) * Bw + own_head
    kappa = T.kv_token_bytes
    # the draft's layer holds every token of context: c_kv (per layer of the target's stage) grows so that
    # c_kv (LF X + LW min(X, W)) gains κ X at full attention (exact without windows, above it with them)
    full = T.n_full * T.stage_layers / L
    grow = 1 + 1 / full if full > 0 else 1 + L / T.stage_layers
    terms = T._replace(
        weights_per_gpu_bytes=T.weights_per_gpu_bytes + weights,
        free_bytes=T.free_bytes - weights,
        c_kv=T.c_kv * grow,
    )
    return terms, Speculation(method, k, alpha, tau, draft, weights, kappa)


def _layout_draft(
    T: serving.ServingTerms, co: tuple[Any, ...], dense: bool, PD: float
) -> tuple[tuple[Any, ...], float]:
    """(the draft layer's coefficients, its MLP parameters per GPU) under the layout T carries (llmxl.parallel).

    The draft's attention, dense MLP and head run on each data-parallel rank over its b / dp sequences (their
    FLOPs over dp, as the target's); its communication is that of one of the target's layers: two all-reduces
    over tp of the rank's tokens for a dense block, the attention's and the MoE layer's (an all-reduce over
    tp × dp, or the dispatch and combine of ep) for a MoE block, read off the target's terms; a MoE block holds
    the experts one GPU of the layout holds (Le of m h fE / (G / ep)) and the shared experts and router.
    """
    dp, L, LM = T.dp, T.L, T.n_moe
    c = list(co)
    for i in (3, 10, 20):  # 2 PA, 2 PD, 2 V h / t: per rank, as parallel.layout_terms divides the target's
        c[i] = c[i] / dp
    att_lat, att_c = T.allreduce_latency_s, T.c_allreduce / dp  # layout_terms keeps c_allreduce per rank token
    if dense or not LM:
        c[18], c[19] = 2 * att_lat, 2 * att_c
        mlp = PD
    else:
        co_t = T.coefficients
        moe_lat = (co_t[18] - (2 * L - LM) * att_lat - T.pp_latency_s) / LM
        moe_c = (co_t[19] - (2 * L - LM) * att_c - T.c_pp / dp) / LM
        c[18], c[19] = att_lat + moe_lat, att_c + moe_c
        mlp = T.local_experts * co_t[15] / T.weight_bytes + T.moe_fixed_params
    return tuple(c), mlp


def decode_step(
    T: serving.ServingTerms, sp: Speculation, b: Any, c: Any, F: Any, M: Any, mx: Any = max, mn: Any = min
) -> tuple[Any, Any, Any, Any, Any]:
    """One speculative step of b sequences at context c, verification and drafts: (attention, mlp,
    communication, output head, overhead) [s]. The step yields τ tokens per sequence.

    Notes
    -----
    verify = fwd(b, k + 1, c) with the output head over all b (k + 1) positions:
    max(2 b (k + 1) V h / t / F, V h Be / t / M); draft = k fwd_draft(b, 1, c) (0 for n-gram).
    """
    k1 = sp.k + 1
    attention, mlp, comm, _, overhead = serving.forward(T, b, k1, c, F, M, False, mx, mn)
    head = mx(T.c_head_flops * b * k1 / F, T.head_bytes / M)
    da, dm, dc, dh, do = sp.draft_parts(b, b * c, F, M, mx, mn)
    return attention + da, mlp + dm, comm + dc, head + dh, overhead + do
