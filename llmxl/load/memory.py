"""The KV cache an engine leaves, and the concurrency that fits in it (docs/methodology.md, "Engines").

Engines size their KV cache at start-up from a memory fraction, each its own way:

- vLLM: ``KV = gpu_memory_utilization × device total − weights − the profiling run's activations −
  memory outside the allocator``;
- SGLang: ``KV = mem_fraction_static × memory free at start-up − weights``, the fraction itself
  computed from a reserve when not given;
- TensorRT-LLM: ``KV = free_gpu_memory_fraction × (memory free after the weights)``.

The pool is a whole number of blocks; a request of X tokens holds ceil(X / block) of them.
Pure arithmetic over the serving terms and the engine spec: nothing here touches the catalog.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engines import EngineSpec
    from ..serving import ServingTerms
    from ..specs import GpuSpec

__all__ = ["EngineMemory", "engine_memory", "sglang_memory_fraction"]

_GIB = 1024**3
_MIB = 1024**2


@dataclass(frozen=True)
class EngineMemory:
    """How one GPU of a replica divides its memory under an engine (bytes unless said otherwise).

    Attributes
    ----------
    engine : The engine's id.
    memory_fraction : The fraction in effect (the engine's default, its own rule's, or the user's).
    device_bytes : The device memory the fraction applies to.
    weight_bytes : Weights on this GPU.
    workspace_bytes : Activations of the engine's profiling run kept out of the KV cache.
    reserve_bytes : Memory outside the allocator (NCCL buffers, context) kept out of the KV cache.
    kv_cache_bytes : The KV cache pool (whole blocks).
    kv_cache_tokens : Tokens the pool holds at the KV bytes per token of this GPU (what engines print).
    block_size : Tokens per block.
    max_num_seqs : The engine's cap on running sequences on this configuration.
    max_num_batched_tokens : The token budget of one step (the chunked-prefill size).
    """

    engine: str
    memory_fraction: float
    device_bytes: float
    weight_bytes: float
    workspace_bytes: float
    reserve_bytes: float
    kv_cache_bytes: float
    kv_cache_tokens: int
    block_size: int
    max_num_seqs: int
    max_num_batched_tokens: int
    token_bytes: float
    """KV bytes one token of context takes on this GPU, all layers of its stage (within windows)."""
    blocks: int
    """Blocks in the pool."""
    kv_budget_bytes: float = 0.0
    """The memory left for the KV cache before it is cut into whole blocks (negative when none is left)."""

    def blocks_for(self, T: ServingTerms, context_tokens: float) -> float:
        """Blocks one sequence of ``context_tokens`` holds (window layers hold at most their window)."""
        if T.n_window:  # a window layer keeps at most W tokens: count the sequence by its bytes
            per_seq = T.c_kv * (T.n_full * context_tokens + T.n_window * min(context_tokens, T.window))
            return per_seq / (self.block_size * self.token_bytes)
        return math.ceil(context_tokens / self.block_size)

    def max_concurrency(self, T: ServingTerms, context_tokens: float) -> int:
        """Sequences of ``context_tokens`` that run at once: the pool's blocks and the engine's cap."""
        fits = math.floor(self.blocks / self.blocks_for(T, context_tokens))
        return max(0, min(fits, self.max_num_seqs))


def sglang_memory_fraction(engine: EngineSpec, device_gib: float, budget: int, graph_bs: int, gpus: int) -> float:
    """SGLang's mem_fraction_static when none is given: (memory − reserve) / memory, to 3 decimals.

    reserve [MiB] = base + max(budget, 2048) · per-token + graph batch · per-batch + gpus · per-GPU,
    at least the floor on GPUs larger than the threshold.
    """
    base, per_token, per_batch, per_gpu, floor, large_gib = engine.sglang_reserve  # type: ignore[misc]
    mem_mib = device_gib * 1024
    reserve = base + max(budget, 2048) * per_token + graph_bs * per_batch + gpus * per_gpu
    if device_gib > large_gib:
        reserve = max(reserve, floor)
    return round((mem_mib - reserve) / mem_mib, 3)


def engine_memory(T: ServingTerms, gpu: GpuSpec, engine: EngineSpec, context_tokens: int) -> EngineMemory:
    """The KV cache pool and the limits one GPU of the configuration ``T`` has under ``engine``.

    ``context_tokens`` is the model's context (max_model_len): SGLang's request pool depends on it.
    A pool of no blocks is returned as such; the caller says why it does not fit.
    """
    device_gib = gpu.device_memory_gib or gpu.memory_gib
    device = device_gib * _GIB
    limits = engine.limits_for(gpu.id, device_gib)
    budget = limits.max_num_batched_tokens
    weights = T.weights_per_gpu_bytes
    token_bytes = T.c_kv * T.L  # one token of context, every layer of this GPU's stage
    workspace = 0.0
    if engine.workspace_scale:
        workspace = engine.workspace_scale * limits.max_num_seqs * 4 * T.vocab + engine.workspace_fixed_gib * _GIB
    if engine.reserve_gib is not None:  # set by the user or a calibration: the whole reserve, at every tp
        reserve = engine.reserve_gib * _GIB
    else:
        reserve = (engine.runtime_reserve_gib + (engine.runtime_reserve_tp_gib if T.t > 1 else 0.0)) * _GIB
    fraction = engine.memory_fraction
    if engine.memory_basis == "total":
        kv = fraction * device - weights - workspace - reserve
    elif engine.memory_basis == "free_at_start":
        if fraction is None:
            graph_bs = (limits.cuda_graph_max_bs_tp4 if T.t >= 4 else limits.cuda_graph_max_bs) or 0
            fraction = sglang_memory_fraction(engine, device_gib, budget, graph_bs, T.t * T.dp * T.p)  # SGLang's --tp
        free = device - engine.context_reserve_gib * _GIB
        kv = fraction * free - weights - (reserve if engine.reserve_gib is not None else 0.0)
    else:  # free_after_load
        kv = fraction * (device - weights - workspace - reserve)
    block_bytes = engine.block_size * token_bytes
    blocks = max(0, math.floor(kv / block_bytes)) if kv > 0 else 0
    tokens = blocks * engine.block_size
    seqs = limits.max_num_seqs
    dp = T.dp  # each data-parallel rank has its own scheduler: its caps add up (llmxl.parallel)
    if engine.request_pool_rule and tokens:
        rank_tokens = tokens // dp  # the KV of the replica's sequences: each rank holds 1/dp of it
        pool = min(max(int(rank_tokens / context_tokens * 512), 2048), 4096)
        seqs = min(seqs, rank_tokens // 2, pool)
    if dp > 1:
        seqs, budget = seqs * dp, budget * dp
    return EngineMemory(
        engine=engine.id,
        memory_fraction=float(fraction),
        device_bytes=device,
        weight_bytes=weights,
        workspace_bytes=workspace,
        reserve_bytes=reserve,
        kv_cache_bytes=blocks * block_bytes,
        kv_cache_tokens=tokens,
        block_size=engine.block_size,
        max_num_seqs=seqs,
        max_num_batched_tokens=budget,
        token_bytes=token_bytes,
        blocks=blocks,
        kv_budget_bytes=float(kv),
    )
