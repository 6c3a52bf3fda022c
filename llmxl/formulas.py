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
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .specs import DtypeSpec, GpuSpec, ModelSpec

__all__ = [
    "LAYERNORM_ACTIVATION_BYTES",
    "PassCoefficients",
    "Terms",
    "activation_bytes",
    "forward_latency",
    "forward_pass",
    "kv_cache_bytes",
    "terms",
    "usd_per_1k_tokens",
]

#: Bytes per element of the layernorm activation buffer (Bln in methodology.md).
LAYERNORM_ACTIVATION_BYTES = 2
_GIB = 1024**3

Max = Callable[[Any, Any], Any]


class PassCoefficients(NamedTuple):
    """Coefficients of b·s·h (bsh) and b·s (bs) in one forward pass, fixed once per configuration.

    A plain tuple, so that :func:`forward_pass` unpacks it in one step.
    """

    layers_per_gpu: int
    """Lp."""
    h: int
    """Hidden size."""
    t: int
    """Tensor-parallel size."""
    c_flops_attn: float
    """(4 h + 4 h / g) / t: attention FLOPs per GPU per bsh, without the s^2 term."""
    c_flops_attn_s: float
    """4 / t: attention FLOPs per GPU per bsh per token of context."""
    c_flops_mlp: float
    """mlp_flops_factor f / t: MLP FLOPs per GPU per bsh."""
    attn_weight_bytes: float
    """P_attn Bw / t: attention weights read per layer per GPU [bytes]."""
    mlp_weight_bytes: float
    """P_mlp Bw / t: MLP weights read per layer per GPU [bytes]."""
    c_act_attn_bsh: float
    """3 Ba / t."""
    c_act_attn_bs: float
    """(2 h + 4 a) Ba / t."""
    c_act_mlp: float
    """max(Ba, Ba r) / t."""
    c_act_norm: float
    """Bln / t."""
    c_act_logits: float
    """V Ba / t."""
    c_norm_traffic: float
    """8 Lp / t: norm bytes per bsh, both norms of all layers (four bytes per element)."""
    c_comm_act: float
    """2 (t - 1) / t Ba / NVL: all-reduce seconds per bsh of activations."""
    c_comm_emb: float
    """2 (t - 1) / t Be / NVL: all-reduce seconds per bsh of embeddings."""
    embedding_table_bytes: float
    """V h Be."""
    c_logits: float
    """2 V / t / p: logits FLOPs per bsh."""
    interconnect_latency_s: float
    """lam [s]."""


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
    """Bytes per element: activations Ba."""
    kv_bytes: float
    """Bytes per element of the KV cache, Bkv (Ba unless the dtype gives its own)."""
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
    coefficients: PassCoefficients
    """The per-token coefficients of :func:`forward_pass`."""


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
    mlp_factor = 4 if reference or not model.gated_mlp else 6
    nvl = gpu.interconnect_gbs * 1e9
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
        kv_bytes=dtype.kv_bits / 8,
        emb_bytes=Be,
        peak_flops=peak_tflops * 1e12,
        bandwidth_bps=gpu.hbm_bandwidth_gbs * 1e9,
        interconnect_bps=gpu.interconnect_gbs * 1e9,
        interconnect_latency_s=gpu.interconnect_latency_s,
        params_attn=p_attn,
        params_mlp=p_mlp,
        mlp_flops_factor=mlp_factor,
        weights_per_gpu_bytes=weights,
        free_bytes=memory - weights,
        memory_bytes=memory,
        coefficients=PassCoefficients(
            layers_per_gpu=Lp,
            h=h,
            t=t,
            c_flops_attn=(4 * h + 4 * h / (a / k)) / t,
            c_flops_attn_s=4 / t,
            c_flops_mlp=mlp_factor * f / t,
            attn_weight_bytes=p_attn * Bw / t,
            mlp_weight_bytes=p_mlp * Bw / t,
            c_act_attn_bsh=3 * Ba / t,
            c_act_attn_bs=(2 * h + 4 * a) * Ba / t,
            c_act_mlp=max(Ba, Ba * f / h) / t,
            c_act_norm=LAYERNORM_ACTIVATION_BYTES / t,
            c_act_logits=V * Ba / t,
            c_norm_traffic=8 * Lp / t,
            c_comm_act=2 * (t - 1) / t * Ba / nvl,
            c_comm_emb=2 * (t - 1) / t * Be / nvl,
            embedding_table_bytes=V * h * Be,
            c_logits=2 * V / t / p,
            interconnect_latency_s=gpu.interconnect_latency_s,
        ),
    )


def activation_bytes(T: Terms, b: Any, s: Any, mx: Max = max) -> Any:
    """Peak activation memory per GPU of one pass over b sequences of s tokens [bytes].

    Notes
    -----
    attn = max(3 Ba s b h / t, (2 s b h + 4 a s b) Ba / t),
    mlp = max(Ba, Ba r) s b h / t, norm = s b h Bln / t, logits = V b s Ba / t;
    act = max(attn, mlp, norm, logits).
    """
    return forward_pass(T, b, s, 1.0, 1.0, mx)[6]


def kv_cache_bytes(T: Terms, b: Any, s: Any, n: Any) -> Any:
    """KV cache per GPU for b sequences of s + n tokens [bytes]: 2 b (s+n) d kg Bkv Lp."""
    return 2 * b * (s + n) * T.d * T.kg * T.kv_bytes * T.layers_per_gpu


def forward_pass(T: Terms, b: Any, s: Any, F: Any, M: Any, mx: Max = max) -> tuple[Any, ...]:
    """One forward pass over b sequences of s tokens: latency by component [s] and activations [bytes].

    Returns ``(attention, mlp, norm, communication, embedding, logits, activation_bytes)``;
    the first six sum to fwd(b, s).

    Notes
    -----
    Per layer: t_attn = max(FLOPs_attn / t / F, P_attn Bw / t / M + attn(b, s) / M) with
    FLOPs_attn = 4 b s h^2 + 4 b s h^2 / g + 4 b s^2 h; t_mlp = max(FLOPs_mlp / t / F,
    P_mlp Bw / t / M + mlp(b, s) / M); t_norm = 4 s b h / t / M;
    t_comm(B) = max(2 b s h (t-1) / t B / NVL, lam) (0 when t = 1).
    fwd = Lp (t_attn + t_mlp + 2 t_norm + 2 t_comm(Ba)) + V h Be / M + t_comm(Be) + 2 s b V h / t / p / F.
    The coefficients of b s h are fixed in :func:`terms`.
    """
    (
        Lp,
        h,
        t,
        c_flops_attn,
        c_flops_attn_s,
        c_flops_mlp,
        attn_weight_bytes,
        mlp_weight_bytes,
        c_act_attn_bsh,
        c_act_attn_bs,
        c_act_mlp,
        c_act_norm,
        c_act_logits,
        c_norm_traffic,
        c_comm_act,
        c_comm_emb,
        embedding_table_bytes,
        c_logits,
        lam,
    ) = T.coefficients
    bs = b * s
    bsh = bs * h
    act_attn = mx(c_act_attn_bsh * bsh, c_act_attn_bs * bs)
    act_mlp = c_act_mlp * bsh
    attention = Lp * mx((c_flops_attn + c_flops_attn_s * s) * bsh / F, (attn_weight_bytes + act_attn) / M)
    mlp = Lp * mx(c_flops_mlp * bsh / F, (mlp_weight_bytes + act_mlp) / M)
    norm = c_norm_traffic * bsh / M
    comm = 0.0 * bsh if t == 1 else Lp * 2 * mx(c_comm_act * bsh, lam) + mx(c_comm_emb * bsh, lam)
    logits = c_logits * bsh / F
    activation = mx(mx(mx(act_attn, act_mlp), c_act_norm * bsh), c_act_logits * bs)
    return (attention, mlp, norm, comm, embedding_table_bytes / M, logits, activation)


def forward_latency(T: Terms, b: Any, s: Any, F: Any, M: Any, mx: Max = max) -> tuple[Any, ...]:
    """Latency of one forward pass by component [s]: the first six values of :func:`forward_pass`."""
    return forward_pass(T, b, s, F, M, mx)[:6]


def usd_per_1k_tokens(gpu_hour_usd: Any, num_gpus: int, tokens_per_s: Any) -> Any:
    """Cost of 1000 tokens at a rate [USD]: 1000 * price * gpus / 3600 / rate."""
    return 1000 * gpu_hour_usd * num_gpus / 3600 / tokens_per_s
