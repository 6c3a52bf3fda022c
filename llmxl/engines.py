"""A serving engine as a frozen spec: its memory rule, scheduling defaults and per-request costs.

Entries live in ``llmxl/data/engines.toml`` and load with the catalog; :func:`llmxl.engine` gives one
with settings changed by the engine's own flag names.
"""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Literal

from pydantic import Field

from .specs import Fraction, Seconds, _Part, _Spec

__all__ = ["EngineLimits", "EngineSpec"]

EngineMemoryBasis = Literal["total", "free_at_start", "free_after_load"]
Count = Annotated[int, Field(ge=1, le=10**7, strict=True)]
#: Sequences running at once: no engine runs more than 65,536 (vLLM's default cap is 256 to 1,024).
Seqs = Annotated[int, Field(ge=1, le=65536, strict=True)]
Gib = Annotated[float, Field(ge=0, le=1e4, allow_inf_nan=False, strict=True)]


class EngineLimits(_Part):
    """One tier of an engine's scheduling defaults, for GPUs with at least ``min_memory_gib`` of memory."""

    min_memory_gib: Gib = 0.0
    """The tier applies to GPUs with at least this much device memory [GiB]."""
    exclude_gpus: tuple[str, ...] = ()
    """GPU id patterns (fnmatch, e.g. "a100-*") the tier skips though they have the memory."""
    max_num_seqs: Seqs
    """Default cap on sequences running at once (vLLM max_num_seqs, SGLang max_running_requests,
    TensorRT-LLM max_batch_size)."""
    max_num_batched_tokens: Count
    """Default token budget of one step: the chunked-prefill size (vLLM max_num_batched_tokens,
    SGLang chunked_prefill_size, TensorRT-LLM max_num_tokens)."""
    cuda_graph_max_bs: Count | None = None
    """Largest batch captured as a CUDA graph, where the engine's memory rule uses it (SGLang)."""
    cuda_graph_max_bs_tp4: Count | None = None
    """The same at tp ≥ 4, where the engine sets it apart (SGLang)."""


class EngineSpec(_Spec):
    """A serving engine's memory rule, scheduling defaults and per-request costs, pinned to a version.

    Settings keep the engine's own flag names where users meet them (``settings``): e.g. vLLM's
    ``gpu_memory_utilization``, ``max_num_seqs``, ``max_num_batched_tokens``.
    """

    id: str
    version: str
    """The release whose defaults these are (defaults move between releases)."""
    memory_basis: EngineMemoryBasis
    """What the memory fraction applies to: the device total (vLLM), the memory free at start-up, the
    weights then coming out of the fraction (SGLang), or the memory free after the weights and a
    profiling run (TensorRT-LLM)."""
    memory_fraction: Fraction | None = None
    """Default memory fraction; None: the engine computes it from a reserve (``sglang_reserve``)."""
    memory_fraction_flag: str
    """The engine's name for the memory fraction (gpu_memory_utilization, mem_fraction_static ...)."""
    max_num_seqs_flag: str
    """The engine's name for the cap on running sequences."""
    max_num_batched_tokens_flag: str
    """The engine's name for the token budget of a step."""
    limits: tuple[EngineLimits, ...]
    """Scheduling defaults by GPU memory tier; the last tier a GPU qualifies for applies."""
    max_num_seqs: Seqs | None = None
    """A cap on running sequences set by the user; None takes the tier's default."""
    max_num_batched_tokens: Count | None = None
    """A step's token budget set by the user; None takes the tier's default."""
    request_pool_rule: bool = False
    """True when the running requests are also capped at half the KV tokens and by a request pool of
    min(max(tokens / context × 512, 2048), 4096) (SGLang's max_running_requests when not given)."""
    max_seqs_equal_budget_cap: bool = False
    """True when the cap on sequences is at most the token budget (vLLM: min(max_num_seqs, budget))."""
    block_size: Count
    """KV cache block (page) size [tokens]: capacity is a whole number of blocks."""
    scheduling: Literal["mixed", "prefill_first"]
    """mixed: decodes first, then prefill chunks from the rest of the token budget in the same step
    (vLLM, TensorRT-LLM); prefill_first: a step of prefill when prompts wait, else a decode step (SGLang)."""
    workspace_scale: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)] = 0.0
    """Activation memory of the engine's profiling run kept out of the KV cache, in fp32 logits of its
    largest batch: workspace = workspace_scale × max_num_seqs × V × 4 bytes + workspace_fixed_gib (the
    sampler's logits, probabilities and sorted copies dominate it); 0 when it is not subtracted."""
    workspace_fixed_gib: Gib = 0.0
    """Constant part of that workspace [GiB]."""
    runtime_reserve_gib: Gib = 0.0
    """Memory outside the framework's allocator taken before the KV cache is sized (NCCL buffers, CUDA
    context) on one GPU [GiB]."""
    runtime_reserve_tp_gib: Gib = 0.0
    """Extra such memory on each GPU of a tensor-parallel group (tp > 1): communicators' buffers [GiB]."""
    reserve_gib: Gib | None = None
    """Memory kept out of the KV cache on each GPU beyond the weights and the workspace, as a user or a
    calibration sets it (``reserve_gib=`` in the engine's settings) [GiB]: replaces runtime_reserve_gib and
    runtime_reserve_tp_gib at every tp; under SGLang's rule it comes out of the cache its fraction leaves.
    None: the profile's own reserves."""
    context_reserve_gib: Gib = 0.0
    """Device memory already in use when the engine measures what is free at start-up [GiB]."""
    sglang_reserve: tuple[float, float, float, float, float, float] | None = None
    """SGLang's rule for its memory fraction when none is given [MiB]: (base, per budget token (at least
    2048), per CUDA-graph batch, per GPU of tp × pp, the floor on GPUs over ``sglang_reserve_large_gib``,
    and that threshold in GiB): fraction = (memory − reserve) / memory, rounded to 3 decimals."""
    closed_loop: Literal["lockstep", "independent"] = "lockstep"
    """How the requests of a closed loop of equal clients meet the engine: "lockstep", started together they
    stay in waves (prefill first, or whole prompts in a step); "independent", the engine's steps break the
    waves up and the requests arrive as from independent clients (llmxl.load.queueing.independent_loop)."""
    closed_loop_source: str = ""
    """Why the engine's closed loop is modelled so (the measurements that tell)."""
    front_end_s: Seconds = 0.0
    """What a client sees in every request's time to first token beyond the GPU's work: the HTTP
    server, tokenisation, detokenisation of the first token [s]."""
    decode_overhead_s: Seconds | None = None
    """Fixed cost of one step of this engine [s] (scheduling, sampling, launch); None takes the GPU's."""
    prefill_overhead_s: Seconds | None = None
    """Fixed cost a step pays for the prompts it prefills [s]; None takes the GPU's."""
    memory_source: str
    """Where the memory rule and its defaults were read (file and release)."""
    limits_source: str
    """Where the scheduling defaults were read."""
    timing_source: str = "not fitted"
    """Where front_end_s and the overheads come from (the measurements they were fitted to)."""
    source: str
    """Where the profile as a whole comes from."""
    checked: _dt.date
    """When the profile was checked against its sources."""

    @property
    def settings(self) -> dict[str, str]:
        """The engine's flag names a user may set, each with the field it sets."""
        return {
            self.memory_fraction_flag: "memory_fraction",
            self.max_num_seqs_flag: "max_num_seqs",
            self.max_num_batched_tokens_flag: "max_num_batched_tokens",
            "block_size": "block_size",
            "front_end_s": "front_end_s",
            "reserve_gib": "reserve_gib",
        }

    def limits_for(self, gpu_id: str, memory_gib: float) -> EngineLimits:
        """The scheduling limits on a GPU: the tier it falls in, with what the user set in its place.

        vLLM's rule that a step never runs more sequences than its token budget holds (max_num_seqs =
        min(max_num_seqs, max_num_batched_tokens)) applies where the engine has it.
        """
        import fnmatch

        chosen = self.limits[0]
        for tier in self.limits:
            if memory_gib >= tier.min_memory_gib and not any(fnmatch.fnmatchcase(gpu_id, p) for p in tier.exclude_gpus):
                chosen = tier
        seqs = self.max_num_seqs or chosen.max_num_seqs
        budget = self.max_num_batched_tokens or chosen.max_num_batched_tokens
        if self.max_seqs_equal_budget_cap:
            seqs = min(seqs, budget)
        if (seqs, budget) != (chosen.max_num_seqs, chosen.max_num_batched_tokens):
            chosen = chosen.model_copy(update={"max_num_seqs": seqs, "max_num_batched_tokens": budget})
        return chosen
