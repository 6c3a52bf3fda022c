"""The `serving` method as pure functions of numbers (methodology.md, "The `serving` method").

What a serving engine (vLLM, SGLang, TensorRT-LLM) measures: the KV cache read
once at the context each sequence really holds, the first token coming out of
prefill, fixed costs per layer and per pass, and the architectures served
today: mixture of experts, multi-head latent attention, sliding-window and
chunked attention.

:func:`serving_terms` fixes what the configuration (model, GPU, dtype, t, p and
the GPU's serving constants) fixes; :func:`forward` is one pass over s new
tokens of each of b sequences that already hold c tokens. Workload values may
be floats or numpy arrays; ``mx``/``mn`` are the element-wise max/min to use
(builtins for floats, numpy's for arrays). Nothing here prints, logs or touches
files.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .specs import DtypeSpec, GpuSpec, ModelSpec, ServingConstants

__all__ = [
    "LAYERNORM_ACTIVATION_BYTES",
    "ServingTerms",
    "activation_bytes",
    "experts_touched",
    "forward",
    "kv_cache_bytes",
    "memory_needs",
    "serving_terms",
]

#: Bytes per element of the layernorm activation buffer (Bln), as in the other methods.
LAYERNORM_ACTIVATION_BYTES = 2
_GIB = 1024**3


class ServingTerms(NamedTuple):
    """What one (model, GPU, dtype, t, p, serving constants) fixes before any workload.

    Per GPU, per layer unless said otherwise; symbols as in methodology.md.
    """

    method: str
    t: int
    p: int
    L: int
    """Layers; latency counts all of them whatever p is."""
    stage_layers: int
    """Ls = ceil(L / p), the largest pipeline stage."""
    h: int
    a: int
    d: int
    """Head dimension."""
    kg: float
    """KV heads per GPU, max(k / t, 1)."""
    vocab: int
    context_tokens: int
    # attention
    n_full: int
    """LF, layers attending to the whole context."""
    n_window: int
    """LW, layers attending through the window."""
    window: float
    """W [tokens]; inf without a window."""
    attn_params: float
    """PA, attention parameters per GPU."""
    attn_weight_bytes: float
    """PA Bw."""
    kv_token_bytes: float
    """κ, KV bytes per token per layer per GPU."""
    mla: bool
    c_score: float
    """Score FLOPs per (b s x): 4 (a/t) d (GQA) or 2 (a/t) (dN + dR + dV) (MLA, s > 1)."""
    c_score_latent: float
    """MLA decode score FLOPs per (b x): 2 (a/t) (2 rKV + dR); 0 without MLA."""
    # MLP
    n_dense: int
    """L - LM."""
    dense_params: float
    """PD = m h f / t."""
    n_moe: int
    """LM."""
    experts: int
    """E (0 for a dense model)."""
    experts_per_token: int
    """K."""
    expert_params: float
    """PE = m h fE / t."""
    moe_flops_params: float
    """K PE + PS + PR: parameters one token multiplies with in a MoE layer."""
    moe_fixed_params: float
    """PS + PR: shared expert and router, read whatever the routing."""
    # communication, output head, fixed costs
    allreduce_latency_s: float
    """λ when t > 1, else 0."""
    c_allreduce: float
    """2 (t - 1) / t h Ba / NVL [s per token]; 0 when t = 1."""
    pp_latency_s: float
    """(p - 1) λ."""
    c_pp: float
    """(p - 1) h Ba / NVL [s per token]."""
    c_head_flops: float
    """2 V h / t, output-head FLOPs per sequence."""
    head_bytes: float
    """V h Be / t."""
    layer_overhead_s: float
    """L τL."""
    prefill_overhead_s: float
    decode_overhead_s: float
    # memory
    weight_bytes: float
    """Bytes per element: weights Bw."""
    act_bytes: float
    kv_bytes: float
    """Bytes per element of the KV cache, Bkv."""
    emb_bytes: float
    weights_per_gpu_bytes: float
    memory_bytes: float
    free_bytes: float
    c_kv: float
    """(Ls / L) κ: KV bytes per GPU per sequence per token per layer."""
    c_act_tokens: float
    """Activation bytes per (b s): the largest of attention, MLP and norm buffers."""
    c_act_logits: float
    """V Ba / t: logits of the last position, per sequence."""
    peak_flops: float
    """Dense peak of the compute kind [FLOP/s], before efficiency."""
    score_rate: float
    """The rate attention's score arithmetic (QKᵀ and PV) runs at over peak_flops: 1, or less when the KV cache
    is wider than the compute operands (fp8 GEMMs beside a 16-bit cache: the 16-bit rate over the fp8 rate).
    The coefficients hold c_score / score_rate and c_score_latent / score_rate."""
    bandwidth_bps: float
    """HBM bandwidth [bytes/s], before efficiency."""
    coefficients: tuple[Any, ...]
    """What :func:`forward` reads, in one tuple (unpacked in one step; see :func:`_pass_coefficients`)."""
    # layout (llmxl.parallel): the defaults are tensor and pipeline parallelism alone
    dp: int = 1
    """Attention data-parallel ranks: each holds 1/dp of the replica's sequences (llmxl.parallel)."""
    ep: int = 1
    """Expert-parallel ranks of the MoE layers: 1 (experts tensor-parallel over tp × dp) or tp × dp."""
    redundant_experts: int = 0
    """Routed experts placed twice to spread E + R over the ep ranks (EPLB)."""
    local_experts: float = 0.0
    """Routed experts each GPU holds, (E + R) / ep; 0 before a layout is applied (then E)."""
    scaleout: bool = False
    """Whether some collective of the layout crosses the scale-out network."""


def serving_terms(
    model: ModelSpec,
    gpu: GpuSpec,
    dtype: DtypeSpec,
    tp: int,
    pp: int,
    constants: ServingConstants,
    peak_tflops: float,
) -> ServingTerms:
    """Fix the workload-independent terms of the `serving` method.

    Notes
    -----
    PA = 2 h a d / t + 2 h kg d (GQA), or q + h (rKV + dR) + rKV a (dN + dV) / t + a dV h / t
    with q = h rQ + rQ a (dN + dR) / t (MLA); κ = 2 kg d Bkv (GQA) or (rKV + dR) Bkv (MLA);
    PD = m h f / t; PE = m h fE / t, PS = m h fS / t, PR = h E.
    W = (Ls / L) Σ_layers (PA + PD or E PE + PS + PR) Bw + V h Be (2, or 1 when tied) / t + h Bw.
    """
    L, h, a = model.num_hidden_layers, model.hidden_size, model.num_attention_heads
    k, f, V = model.num_key_value_heads, model.intermediate_size, model.vocab_size
    d = model.attention_head_dim
    t, p = tp, pp
    Bw, Ba, Be = dtype.weight_bits / 8, dtype.activation_bits / 8, dtype.embedding_bits / 8
    Bkv = dtype.kv_bits / 8
    kg = max(k / t, 1)
    at = a / t
    m = 3 if model.gated_mlp else 2
    mla = model.mla
    if mla is not None:
        dR, dN, dV, rKV = mla.qk_rope_head_dim, mla.qk_nope_head_dim, mla.v_head_dim, mla.kv_lora_rank
        q = h * mla.q_lora_rank + mla.q_lora_rank * a * (dN + dR) / t if mla.q_lora_rank else h * a * (dN + dR) / t
        PA = q + h * (rKV + dR) + rKV * a * (dN + dV) / t + a * dV * h / t
        kappa = (rKV + dR) * Bkv
        c_score, c_score_latent = 2 * at * (dN + dR + dV), 2 * at * (2 * rKV + dR)
    else:
        PA = 2 * h * a * d / t + 2 * h * kg * d
        kappa = 2 * kg * d * Bkv
        c_score, c_score_latent = 4 * at * d, 0.0
    win = model.attention
    n_window = win.num_sliding_layers if win is not None else 0
    window = float(win.sliding_window) if win is not None else math.inf
    moe = model.moe
    PD = m * h * f / t
    if moe is not None:
        E, K, LM = moe.num_experts, moe.experts_per_token, moe.num_moe_layers
        PE = m * h * moe.expert_intermediate_size / t
        fixed = m * h * moe.shared_intermediate_size / t + h * E
        flops_params = K * PE + fixed
        f_act = K * moe.expert_intermediate_size + moe.shared_intermediate_size
        if LM < L:
            f_act = max(f_act, f)
    else:
        E = K = LM = 0
        PE = fixed = flops_params = 0.0
        f_act = f
    score_rate = attention_score_rate(gpu, dtype, peak_tflops)
    lam = constants.allreduce_latency_s
    lam_t = lam if t > 1 else 0.0
    c_ar = 2 * (t - 1) / t * h * Ba / (gpu.interconnect_gbs * 1e9)
    coefficients = (
        L - n_window,
        n_window,
        window,
        2 * PA,
        PA * Bw,
        kappa,
        mla is not None,
        c_score / score_rate,
        c_score_latent / score_rate,
        L - LM,
        2 * PD,
        PD * Bw,
        LM,
        E,
        1 - K / E if E else 1.0,
        PE * Bw,
        2 * flops_params,
        fixed * Bw,
        2 * L * lam_t + (p - 1) * lam,
        2 * L * c_ar + (p - 1) * h * Ba / (gpu.interconnect_gbs * 1e9),
        2 * V * h / t,
        V * h * Be / t,
        L * constants.layer_overhead_s + constants.prefill_overhead_s,
        L * constants.layer_overhead_s + constants.decode_overhead_s,
    )
    stage = -(-L // p)
    layer_params = (L - LM) * (PA + PD) + LM * (PA + E * PE + fixed)
    weights = stage / L * layer_params * Bw + V * h * Be * (1 if model.tie_word_embeddings else 2) / t + h * Bw
    memory = gpu.memory_gib * _GIB
    nvl = gpu.interconnect_gbs * 1e9
    c_act_tokens = max(3 * Ba * h / t, (2 * h + 4 * a) * Ba / t, max(Ba, Ba * f_act / h) * h / t)
    c_act_tokens = max(c_act_tokens, LAYERNORM_ACTIVATION_BYTES * h / t)
    return ServingTerms(
        method="serving",
        t=t,
        p=p,
        L=L,
        stage_layers=stage,
        h=h,
        a=a,
        d=d,
        kg=kg,
        vocab=V,
        context_tokens=model.max_position_embeddings,
        n_full=L - n_window,
        n_window=n_window,
        window=window,
        attn_params=PA,
        attn_weight_bytes=PA * Bw,
        kv_token_bytes=kappa,
        mla=mla is not None,
        c_score=c_score,
        c_score_latent=c_score_latent,
        n_dense=L - LM,
        dense_params=PD,
        n_moe=LM,
        experts=E,
        experts_per_token=K,
        expert_params=PE,
        moe_flops_params=flops_params,
        moe_fixed_params=fixed,
        allreduce_latency_s=lam if t > 1 else 0.0,
        c_allreduce=2 * (t - 1) / t * h * Ba / nvl,
        pp_latency_s=(p - 1) * lam,
        c_pp=(p - 1) * h * Ba / nvl,
        c_head_flops=2 * V * h / t,
        head_bytes=V * h * Be / t,
        layer_overhead_s=L * constants.layer_overhead_s,
        prefill_overhead_s=constants.prefill_overhead_s,
        decode_overhead_s=constants.decode_overhead_s,
        weight_bytes=Bw,
        act_bytes=Ba,
        kv_bytes=Bkv,
        emb_bytes=Be,
        weights_per_gpu_bytes=weights,
        memory_bytes=memory,
        free_bytes=memory - weights,
        c_kv=stage / L * kappa,
        c_act_tokens=c_act_tokens,
        c_act_logits=V * Ba / t,
        peak_flops=peak_tflops * 1e12,
        score_rate=score_rate,
        bandwidth_bps=gpu.hbm_bandwidth_gbs * 1e9,
        coefficients=coefficients,
    )


#: Bits of the operands each kind of tensor core multiplies.
_OPERAND_BITS = {"fp16": 16, "fp8": 8, "int8": 8, "int4": 4, "fp4": 4}


def attention_score_rate(gpu: Any, dtype: Any, peak_tflops: float) -> float:
    """ServingTerms.score_rate: the score arithmetic runs at the KV cache's precision. A cache no wider than the
    compute operands runs at their rate (1); a wider one at the 8-bit rate (a cache of 8 bits, where the GPU has
    fp8) or the 16-bit rate, over the compute kind's peak, at most 1."""
    if dtype.kv_bits <= _OPERAND_BITS[dtype.compute_kind]:
        return 1.0
    fp8 = gpu.fp8_tflops or 0.0
    peak = fp8 if dtype.kv_bits <= 8 and fp8 > 0 else gpu.fp16_tflops
    return min(peak / peak_tflops, 1.0)


def experts_touched(E: int, K: int, N: Any) -> Any:
    """Distinct experts that N tokens routed uniformly touch: Er(N) = E (1 - (1 - K / E)^N)."""
    return E * (1 - (1 - K / E) ** N)


def forward(
    T: ServingTerms, b: Any, s: Any, c: Any, F: Any, M: Any, prefill: bool, mx: Any = max, mn: Any = min
) -> tuple[Any, Any, Any, Any, Any]:
    """One forward pass over s new tokens of each of b sequences holding c tokens [s].

    Returns ``(attention, mlp, communication, output_head, overhead)``; they sum to fwd(b, s, c).
    ``prefill`` selects the fixed cost τPre (a pass over a prompt, c = 0) or τDec (a decode step).

    Notes
    -----
    N = b s; x = c + (s + 1) / 2 (min(x, W) in window layers); cached tokens read c (min(c, W)).
    t_attn = max((2 N PA + score) / F, (PA Bw + b κ (cr + s)) / M);
    t_mlp = max(2 N PD / F, PD Bw / M) (dense) or max(2 N (K PE + PS + PR) / F, (Er(N) PE + PS + PR) Bw / M);
    fwd = LF t_attn + LW t_attn(window) + (L - LM) t_mlp + LM t_mlp(MoE) + L (2 t_ar + τL)
    + max(2 b V h / t / F, V h Be / t / M) + τ + (p - 1) (λ + N h Ba / NVL),
    with t_ar = λ + 2 (t - 1) / t N h Ba / NVL when t > 1.
    """
    (
        n_full,
        n_window,
        W,
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
        overhead_pre,
        overhead_dec,
    ) = T.coefficients
    N = b * s
    x = c + (s + 1) * 0.5
    flops_params = PA2 * N
    bk = b * kappa
    if not mla:
        cs = c_score * N
    elif not prefill:  # the latent form, per new token (N = b at s = 1; a verification pass has s > 1)
        cs = c_score_latent * N
    elif isinstance(s, (int, float)):
        cs = c_score_latent * b if s == 1 else c_score * N
    else:  # arrays: the latent form where a prompt is one token long
        import numpy as np

        cs = np.where(s == 1, c_score_latent * b, c_score * N)
    attention = 0.0
    if n_full:
        attention = n_full * mx((flops_params + cs * x) / F, (PA_bytes + bk * (c + s)) / M)
    if n_window:
        attention = attention + n_window * mx((flops_params + cs * mn(x, W)) / F, (PA_bytes + bk * (mn(c, W) + s)) / M)
    mlp = 0.0
    if n_dense:
        mlp = n_dense * mx(PD2 * N / F, PD_bytes / M)
    if n_moe:  # Er(N) = E (1 - (1 - K / E)^N) experts touched
        mlp = mlp + n_moe * mx(moe_flops2 * N / F, (E * (1 - q**N) * PE_bytes + moe_fixed_bytes) / M)
    comm = comm_fixed + c_comm * N
    head = mx(c_head * b / F, head_bytes / M)
    return attention, mlp, comm, head, overhead_pre if prefill else overhead_dec


def kv_cache_bytes(T: ServingTerms, b: Any, X: Any, mn: Any = min) -> Any:
    """KV cache per GPU for b sequences of context X [bytes]: (Ls / L) b κ (LF X + LW min(X, W))."""
    if T.n_window:
        return T.c_kv * b * (T.n_full * X + T.n_window * mn(X, T.window))
    return T.c_kv * b * T.n_full * X


def activation_bytes(T: ServingTerms, b: Any, s: Any, mx: Any = max) -> Any:
    """Peak activation buffer per GPU of a pass over b sequences of s tokens [bytes].

    Notes
    -----
    max(attention, MLP, norm buffers over b s tokens, logits of the last position V b Ba / t),
    with the MLP width K fE + fS in MoE layers (the larger of that and f in a mixed model).
    """
    return mx(T.c_act_tokens * b * s, T.c_act_logits * b)


def memory_needs(T: ServingTerms, b: Any, s: Any, n: Any, mx: Any = max, mn: Any = min) -> tuple[Any, Any, Any, Any]:
    """Memory per GPU of a scenario [bytes]: (prompt need, prefill activations, KV cache, decode activations).

    The prompt fits when free memory exceeds act(b, s) + KV(b, s); decoding when it exceeds
    KV(b, s + n) + act(b, 1). The same arithmetic as :func:`kv_cache_bytes` and
    :func:`activation_bytes`, in one call for the scalar fast path.
    """
    c_kv, lf, lw, W = T.c_kv * b, T.n_full, T.n_window, T.window
    logits = T.c_act_logits * b
    act_pre = mx(T.c_act_tokens * b * s, logits)
    act_dec = mx(T.c_act_tokens * b, logits)
    X = s + n
    if lw:
        return act_pre + c_kv * (lf * s + lw * mn(s, W)), act_pre, c_kv * (lf * X + lw * mn(X, W)), act_dec
    return act_pre + c_kv * lf * s, act_pre, c_kv * lf * X, act_dec
