"""The analytical inference model as pure functions of numbers.

Every function here takes plain numbers or numpy arrays (they broadcast) and
returns the same; nothing prints, logs or touches files. The symbols follow
``methodology.md``: L layers, h hidden size, a attention heads, k key/value
heads, f MLP size, V vocabulary, t tensor-parallel and p pipeline-parallel
size, b batch size, s tokens in the pass, n completion tokens, F effective
FLOP/s, M effective memory bandwidth [bytes/s].

``mx`` is the element-wise maximum to use: the builtin :func:`max` for
floats, :func:`numpy.maximum` for arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .specs import DtypeSpec, GpuSpec, ModelSpec

__all__ = [
    "LAYERNORM_ACTIVATION_BYTES",
    "Terms",
    "activation_bytes",
    "forward_latency",
    "kv_cache_bytes",
    "terms",
    "usd_per_1k_tokens",
]

#: Bytes per element of the layernorm activation buffer (Bln in methodology.md).
LAYERNORM_ACTIVATION_BYTES = 2
_GIB = 1024**3

Max = Callable[[Any, Any], Any]


class Terms(NamedTuple):
    """What one (model, GPU, dtype, tp, pp, method) fixes before any workload."""

    method: str
    t: int
    p: int
    layers_per_gpu: int
    """Lp = floor(L / p)."""
    h: int
    a: int
    g: float
    """Query heads per KV head, a / k."""
    d: float
    """Head dimension h / a."""
    kg: float
    """KV heads per GPU, max(k / t, 1)."""
    f: int
    r: float
    """MLP ratio f / h."""
    vocab: int
    context_tokens: int
    weight_bytes: float
    """Bytes per element: weights Bw."""
    act_bytes: float
    """Bytes per element: activations Ba (and KV cache)."""
    emb_bytes: float
    """Bytes per element: embeddings Be."""
    peak_flops: float
    """Dense peak of the compute kind [FLOP/s], before efficiency."""
    bandwidth_bps: float
    """HBM bandwidth [bytes/s], before efficiency."""
    interconnect_bps: float
    interconnect_latency_s: float
    params_attn: float
    """P_attn per layer."""
    params_mlp: float
    """P_mlp per layer."""
    mlp_flops_factor: int
    """4 in `reference`; 6 for gated MLPs (4 otherwise) in `standard`."""
    weights_per_gpu_bytes: float
    """W, weight bytes per GPU."""
    free_bytes: float
    """GPU memory left after weights [bytes]; <= 0 means the weights do not fit."""
    memory_bytes: float
    """GPU memory [bytes]."""


def terms(model: ModelSpec, gpu: GpuSpec, dtype: DtypeSpec, tp: int, pp: int, method: str, peak_tflops: float) -> Terms:
    """Fix the workload-independent terms.

    Notes
    -----
    P_attn = 2 h^2 + 2 h (h kg t / a), P_mlp = (3 if GLU else 2) h f,
    W = Lw (P_attn Bw / t + P_mlp Bw / t + 2 h Bw) + V h Be / t + h Bw / t,
    with Lw = L (`reference`) or Lp (`standard`).
    """
    L, h, a = model.num_hidden_layers, model.hidden_size, model.num_attention_heads
    k, f, V = model.num_key_value_heads, model.intermediate_size, model.vocab_size
    t, p = tp, pp
    Bw, Ba, Be = dtype.weight_bits / 8, dtype.activation_bits / 8, dtype.embedding_bits / 8
    kg = max(k / t, 1)
    Lp = L // p
    p_attn = 2 * h * h + 2 * h * (h * kg * t / a)
    p_mlp = (3 if model.gated_mlp else 2) * h * f
    reference = method == "reference"
    layers_w = L if reference else Lp
    weights = layers_w * (p_attn * Bw / t + p_mlp * Bw / t + 2 * h * Bw) + V * h * Be / t + h * Bw / t
    memory = gpu.memory_gib * _GIB
    return Terms(
        method=method,
        t=t,
        p=p,
        layers_per_gpu=Lp,
        h=h,
        a=a,
        g=a / k,
        d=h / a,
        kg=kg,
        f=f,
        r=f / h,
        vocab=V,
        context_tokens=model.max_position_embeddings,
        weight_bytes=Bw,
        act_bytes=Ba,
        emb_bytes=Be,
        peak_flops=peak_tflops * 1e12,
        bandwidth_bps=gpu.hbm_bandwidth_gbs * 1e9,
        interconnect_bps=gpu.interconnect_gbs * 1e9,
        interconnect_latency_s=gpu.interconnect_latency_s,
        params_attn=p_attn,
        params_mlp=p_mlp,
        mlp_flops_factor=4 if reference or not model.gated_mlp else 6,
        weights_per_gpu_bytes=weights,
        free_bytes=memory - weights,
        memory_bytes=memory,
    )


def activation_bytes(T: Terms, b: Any, s: Any, mx: Max = max) -> Any:
    """Peak activation memory per GPU of one pass over b sequences of s tokens [bytes].

    Notes
    -----
    attn = max(3 Ba s b h / t, (2 s b h + 4 a s b) Ba / t),
    mlp = max(Ba, Ba r) s b h / t, norm = s b h Bln / t, logits = V b s Ba / t;
    act = max(attn, mlp, norm, logits).
    """
    t, h, Ba = T.t, T.h, T.act_bytes
    bs = b * s
    bsh = bs * h
    attn = mx(3 * Ba * bsh / t, (2 * bsh + 4 * T.a * bs) * Ba / t)
    mlp = max(Ba, Ba * T.r) * bsh / t
    norm = bsh * LAYERNORM_ACTIVATION_BYTES / t
    logits = T.vocab * bs * Ba / t
    return mx(mx(mx(attn, mlp), norm), logits)


def kv_cache_bytes(T: Terms, b: Any, s: Any, n: Any) -> Any:
    """KV cache per GPU for b sequences of s + n tokens [bytes]: 2 b (s+n) d kg Bkv Lp."""
    return 2 * b * (s + n) * T.d * T.kg * T.act_bytes * T.layers_per_gpu


def _comm_s(T: Terms, bsh: Any, nbytes: float, mx: Max) -> Any:
    if T.t == 1:
        return 0.0 * bsh
    t = T.t
    return mx(2 * bsh * (t - 1) / t * nbytes / T.interconnect_bps, T.interconnect_latency_s)


def forward_latency(T: Terms, b: Any, s: Any, F: Any, M: Any, mx: Max = max) -> tuple[Any, ...]:
    """Latency of one forward pass over b sequences of s tokens, by component [s].

    Returns ``(attention, mlp, norm, communication, embedding, logits)``; their
    sum is fwd(b, s).

    Notes
    -----
    Per layer: t_attn = max(FLOPs_attn / t / F, P_attn Bw / t / M + attn(b, s) / M),
    t_mlp likewise, t_norm = 4 s b h / t / M, t_comm(B) = max(2 b s h (t-1) / t B / NVL, lam)
    (0 when t = 1). fwd = Lp (t_attn + t_mlp + 2 t_norm + 2 t_comm(Ba))
    + V h Be / M + t_comm(Be) + 2 s b V h / t / p / F.
    """
    t, h, Ba, Bw = T.t, T.h, T.act_bytes, T.weight_bytes
    Lp = T.layers_per_gpu
    bs = b * s
    bsh = bs * h
    bshh = bsh * h
    flops_attn = 4 * bshh + 4 * bshh / T.g + 4 * bsh * s
    act_attn = mx(3 * Ba * bsh / t, (2 * bsh + 4 * T.a * bs) * Ba / t)
    t_attn = mx(flops_attn / t / F, T.params_attn * Bw / t / M + act_attn / M)
    flops_mlp = T.mlp_flops_factor * bsh * T.f
    act_mlp = max(Ba, Ba * T.r) * bsh / t
    t_mlp = mx(flops_mlp / t / F, T.params_mlp * Bw / t / M + act_mlp / M)
    t_norm = bsh * 4 / t / M
    comm = Lp * 2 * _comm_s(T, bsh, Ba, mx) + _comm_s(T, bsh, T.emb_bytes, mx)
    embedding = T.vocab * h * T.emb_bytes / M
    logits = 2 * bsh * T.vocab / t / T.p / F
    return (Lp * t_attn, Lp * t_mlp, Lp * 2 * t_norm, comm, embedding, logits)


def usd_per_1k_tokens(gpu_hour_usd: Any, num_gpus: int, tokens_per_s: Any) -> Any:
    """Cost of 1000 tokens at a rate [USD]: 1000 * price * gpus / 3600 / rate."""
    return 1000 * gpu_hour_usd * num_gpus / 3600 / tokens_per_s
