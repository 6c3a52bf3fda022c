"""Expert parallelism with data-parallel attention, and collectives on the link they cross.

The layouts engines run for mixture-of-experts models (methodology.md, "Expert and data
parallelism"): vLLM ``--data-parallel-size D --enable-expert-parallel`` with ``-tp T`` per rank is
``tp=T, dp=D, ep=T·D``; SGLang ``--tp N --enable-dp-attention --dp D`` is ``tp=N/D, dp=D`` (and
``ep=N`` with ``--ep N``); TensorRT-LLM's attention DP with MoE EP is ``tp=1, dp=ep=N``.

A replica holds ``G = tp · dp`` GPUs per pipeline stage. Attention, the dense layers, the shared
experts, the router and the output head run on each data-parallel rank at ``tp`` over that rank's
``b / dp`` sequences (each rank holds their KV cache and its own copy of those weights); the routed
experts are spread over all G GPUs: ``ep = 1`` shards each expert G ways (tensor-parallel experts),
``ep = G`` places ``(E + R) / G`` whole experts on each GPU (R redundant experts, as engines' expert
load balancers place them). Each MoE layer then runs an all-reduce over the G GPUs (``ep = 1``) or a
dispatch and a combine of every token's K routed copies (``ep = G``), (ep - 1) / ep of them leaving
the GPU.

Every collective is charged on the link it crosses: a group of GPUs that fits in one scale-up domain
(``GpuSpec.domain_gpus``: an 8-GPU node, a 72-GPU NVL72 rack) uses the scale-up link
(``interconnect_gbs``); a larger group uses the scale-out network per GPU (``scaleout_gbs``) and adds its
latency, where the GPU (a system of llmxl/data/systems.toml) knows one.

:func:`layout_terms` rewrites a :class:`~llmxl.serving.ServingTerms` for a layout; the forward pass,
the load model's step and the memory functions then read it unchanged, with b the replica's
sequences. The load over the dp ranks is taken as balanced (each rank b / dp sequences).
Pure arithmetic, no catalog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .serving import ServingTerms

__all__ = ["NODE_GPUS", "domain_gpus", "experts_touched_per_gpu", "layout_terms", "link", "needs_layout"]

#: GPUs of one scale-up domain when the GPU names none (one HGX-style node).
NODE_GPUS = 8


def domain_gpus(gpu: Any) -> int:
    """GPUs sharing the scale-up link: the GPU's (system's) domain_gpus, else one 8-GPU node."""
    return gpu.domain_gpus or NODE_GPUS


def link(n: int, gpu: Any) -> tuple[float, float, bool]:
    """(bandwidth [bytes/s], added latency [s], crosses the scale-out network) of a group of n GPUs.

    n GPUs within one scale-up domain: the scale-up link (interconnect_gbs), no added latency. More:
    the scale-out network per GPU and its latency, when the GPU knows one; else the scale-up figure
    (what llmxl charged before it knew links; the configuration warns).
    """
    if n > domain_gpus(gpu) and gpu.scaleout_gbs is not None:
        return gpu.scaleout_gbs * 1e9, gpu.scaleout_latency_s or 0.0, True
    return gpu.interconnect_gbs * 1e9, 0.0, False


def needs_layout(t: int, p: int, gpu: Any, dp: int = 1, ep: int = 1, redundant: int = 0) -> bool:
    """Whether :func:`layout_terms` changes anything: a dp/ep layout, or a group crossing a known network."""
    return dp != 1 or ep != 1 or redundant != 0 or (gpu.scaleout_gbs is not None and t * p > domain_gpus(gpu))


def _allreduce(n: int, gpu: Any, lam: float, h: int, Ba: float, share: float) -> tuple[float, float, bool]:
    """(latency [s], seconds per replica token, crosses) of an all-reduce over n GPUs of share · N tokens."""
    if n == 1:
        return 0.0, 0.0, False
    bw, extra, out = link(n, gpu)
    return lam + extra, 2 * (n - 1) / n * h * Ba / bw * share, out


def all_to_all_s_per_token(G: int, K: int, h: int, Ba: float, gpu: Any) -> tuple[float, float, bool]:
    """(added latency [s], seconds per replica token, crosses) of one dispatch (or combine) over G = ep GPUs.

    Each GPU sends its N / G tokens' K copies of h activations; (G - 1) / G of them leave the GPU, to
    peers in its scale-up domain (min(G, D) - 1) / G on the scale-up link and (G - D) / G over the
    scale-out network, the two links at once: K h Ba / G · max(in-domain / NVL, across / network).
    """
    D = domain_gpus(gpu)
    nvl = gpu.interconnect_gbs * 1e9
    bw, extra, out = link(G, gpu)
    if not out:
        return 0.0, K * h * Ba / G * (G - 1) / G / nvl, False
    return extra, K * h * Ba / G * max((D - 1) / G / nvl, (G - D) / G / bw), True


def layout_terms(T: ServingTerms, gpu: Any, lam: float, dp: int = 1, ep: int = 1, redundant: int = 0) -> ServingTerms:
    """The serving terms of tp = T.t per rank, dp ranks, ep expert ranks, on the links of ``gpu``.

    ``lam`` is the serving constant λ (one small collective on the scale-up link). The caller has
    checked the layout (llmxl.resolve): dp = 1 or a MoE model; ep = 1 or ep = tp · dp; E + R
    divisible by ep.

    Notes
    -----
    Per replica token (N = b s over the replica), per GPU: attention, dense MLP, shared experts and
    the head at 1/dp (PA, κ, score, PD, 2 V h / t, PS + PR FLOPs / dp); routed FLOPs 2 K m h fE / G;
    routed bytes Le (1 - (1 - K/E)^N) m h fE / (G / ep) Bw with Le = (E + R) / ep.
    Communication: L attention all-reduces over t of N / dp tokens, L - LM dense-MLP ones the same;
    each MoE layer an all-reduce over G of N tokens (ep = 1) or, ep = G, the rank's all-reduce
    and a dispatch and a combine (:func:`all_to_all_s_per_token`); (p - 1) stage sends of N / dp
    tokens over the link of G p GPUs. KV and activations per GPU at 1/dp of the replica's sequences.
    """
    t, p, h, L, LM = T.t, T.p, T.h, T.L, T.n_moe
    Ba, Bw = T.act_bytes, T.weight_bytes
    G = t * dp
    co = list(T.coefficients)
    for i in (3, 5, 7, 8, 10, 20):  # 2 PA, κ, score, latent score, 2 PD, 2 V h / t: per rank
        co[i] = co[i] / dp
    weights = T.weights_per_gpu_bytes
    local = 0.0
    if T.experts:
        E, K = T.experts, T.experts_per_token
        local = (E + redundant) / ep
        expert_gpu = T.expert_params * t / (G // ep)  # m h fE / (G / ep)
        co[13] = local
        co[15] = expert_gpu * Bw
        co[16] = 2 * K * T.expert_params * t / G + 2 * T.moe_fixed_params / dp
        weights -= T.stage_layers / L * LM * (E * T.expert_params - local * expert_gpu) * Bw
    att_lat, att_c, out = _allreduce(t, gpu, lam, h, Ba, 1 / dp)
    fixed, per_token = (2 * L - LM) * att_lat, (2 * L - LM) * att_c
    crosses = out
    if LM:
        if ep == 1:
            moe_lat, moe_c, out = _allreduce(G, gpu, lam, h, Ba, 1.0)
        else:
            extra, a2a_c, out = all_to_all_s_per_token(G, T.experts_per_token, h, Ba, gpu)
            moe_lat, moe_c = att_lat + 2 * (lam + extra), att_c + 2 * a2a_c
        fixed, per_token, crosses = fixed + LM * moe_lat, per_token + LM * moe_c, crosses or out
    pp_lat = pp_c = 0.0
    if p > 1:
        bw, extra, out = link(G * p, gpu)
        pp_lat, pp_c, crosses = (p - 1) * (lam + extra), (p - 1) * h * Ba / bw / dp, crosses or out
    co[18], co[19] = fixed + pp_lat, per_token + pp_c
    return T._replace(
        coefficients=tuple(co),
        allreduce_latency_s=att_lat,
        c_allreduce=att_c * dp,
        pp_latency_s=pp_lat,
        c_pp=pp_c * dp,
        c_score=T.c_score / dp,
        c_score_latent=T.c_score_latent / dp,
        c_head_flops=T.c_head_flops / dp,
        weights_per_gpu_bytes=weights,
        free_bytes=T.memory_bytes - weights,
        c_kv=T.c_kv / dp,
        c_act_tokens=T.c_act_tokens / dp,
        c_act_logits=T.c_act_logits / dp,
        dp=dp,
        ep=ep,
        redundant_experts=redundant,
        local_experts=local,
        scaleout=crosses,
    )


def experts_touched_per_gpu(T: ServingTerms, N: Any) -> Any:
    """Distinct routed experts one GPU reads per MoE layer for N tokens of the replica: Le (1 - (1 - K/E)^N)."""
    E, K = T.experts, T.experts_per_token
    local = T.local_experts or E
    return local * (1 - (1 - K / E) ** N)
