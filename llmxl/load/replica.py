"""One replica of a configuration under an engine: what plans, operating points and the frontier share.

:func:`replica` fixes what a configuration and an engine fix (the serving terms, the achieved rates, the
step overheads, the KV cache the engine leaves, its scheduling limits); :class:`Replica` then gives the
closed-form load model (:mod:`llmxl.load.queueing`) of a request shape at any mean concurrency, the
largest concurrency that fits, and the replica's capacity. Every face prices a replica through it, so a
plan's row, an operating point and a point of the frontier agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import queueing
from .memory import EngineMemory, engine_memory
from .steps import Rates

__all__ = ["Replica", "replica"]


@dataclass(frozen=True)
class Replica:
    """A configuration (its serving terms ``T`` and rates) under an engine (its memory and limits)."""

    rates: Rates
    memory: EngineMemory
    engine: Any
    context_tokens: int
    """The model's context (max_model_len), which engines size some limits by."""
    prefix_cache_hit: float = 0.0
    """h, the fraction of each prompt's tokens read from the prefix cache (llmxl.prefix); 0 for none."""

    @property
    def mixed(self) -> bool:
        """True when a step carries decodes and prompt chunks together (vLLM, TensorRT-LLM)."""
        return self.engine.scheduling == "mixed"

    def fit(self, s: int, n: int) -> int:
        """Sequences of s + n tokens the engine runs at once: its KV blocks and its cap on sequences."""
        return self.memory.max_concurrency(self.rates.T, s + n)

    def capacity(self, s: int, n: int, cap: int) -> tuple[int, float]:
        """(B_max, λ_max) for the request shape with at most ``cap`` sequences (llmxl.load.queueing.capacity)."""
        return queueing.capacity(
            self.rates,
            s,
            n,
            cap,
            budget=self.memory.max_num_batched_tokens,
            mixed=self.mixed,
            hit=self.prefix_cache_hit,
        )

    def sweep(self, s: int, n: int, cap: int, percentile: float) -> queueing.ReplicaLoad:
        """The load model at every mean concurrency B = 1, 2, ... the engine's limits allow with at most ``cap``
        sequences (llmxl.load.queueing.capacity_top), at ``percentile``: one array evaluation, from which
        the capacity (queueing.capacity_of) and the largest B meeting a target both follow."""
        top = queueing.capacity_top(
            s,
            n,
            cap,
            budget=self.memory.max_num_batched_tokens,
            mixed=self.mixed,
            spec=self.rates.spec,
            hit=self.prefix_cache_hit,
        )
        return self.at(s, n, np.arange(1, top + 1, dtype=np.float64), percentile)

    def at(self, s: int, n: int, B: Any, percentile: float) -> queueing.ReplicaLoad:
        """The load model at mean decode concurrency B (a number or an array)."""
        return queueing.at_concurrency(
            self.rates,
            s,
            n,
            np.asarray(B, dtype=np.float64) if not isinstance(B, (int, float)) else float(B),
            budget=self.memory.max_num_batched_tokens,
            mixed=self.mixed,
            front_end_s=self.engine.front_end_s,
            percentile=percentile,
            hit=self.prefix_cache_hit,
        )

    def at_rate(self, s: int, n: int, rate: float, percentile: float, top: float) -> queueing.ReplicaLoad | None:
        """The load model at arrival rate ``rate``; None when even B = ``top`` serves less (it saturates)."""
        return queueing.at_rate(
            self.rates,
            s,
            n,
            rate,
            budget=self.memory.max_num_batched_tokens,
            mixed=self.mixed,
            front_end_s=self.engine.front_end_s,
            percentile=percentile,
            top=top,
            hit=self.prefix_cache_hit,
        )

    def closed_loop(self, s: int, n: int, C: Any, cap: int, percentile: float) -> queueing.ReplicaLoad:
        """The load model of a closed loop of C clients, the engine running at most ``cap`` sequences: in
        waves, or as independent clients where the engine breaks the waves up (its profile's closed_loop)."""
        loop = queueing.independent_loop if self.engine.closed_loop == "independent" else queueing.closed_loop
        return loop(
            self.rates,
            s,
            n,
            C,
            cap=cap,
            budget=self.memory.max_num_batched_tokens,
            mixed=self.mixed,
            front_end_s=self.engine.front_end_s,
            percentile=percentile,
            hit=self.prefix_cache_hit,
        )

    def first_wave_ttft(self, s: int, n: int, C: Any, cap: int) -> Any:
        """Mean time to first token of the first C requests of a closed loop, sent together [s]."""
        return queueing.first_wave_ttft(
            self.rates,
            s,
            n,
            C,
            cap=cap,
            budget=self.memory.max_num_batched_tokens,
            front_end_s=self.engine.front_end_s,
            hit=self.prefix_cache_hit,
        )

    def decode_step_s(self, s: int, n: int, B: Any) -> Any:
        """A step of B decodes alone [s]."""
        return queueing.decode_step(self.rates, s, n, B)


def replica(
    T: Any,
    gpu: Any,
    fe: float,
    he: float,
    engine: Any,
    context_tokens: int,
    spec: Any = None,
    prefix_cache_hit: float = 0.0,
    prefill_scale: float = 1.0,
    decode_scale: tuple[float, float] = (1.0, 1.0),
) -> Replica:
    """The replica of serving terms ``T`` on ``gpu`` at efficiencies fe, he under ``engine`` (an EngineSpec).

    A step's fixed costs are the engine's own where its profile has them, else the GPU's: L τL + τDec for a
    step, L τL + τPre for one that prefills; what its prompts add is scaled by κP (``prefill_scale``). κD
    (``decode_scale``, the factors (bandwidth, overhead)) scales the achieved bandwidth and L τL and the GPU's τDec.
    ``spec``: a speculative decoder (llmxl.speculative.Speculation; ``T`` then holds its weights and KV cache),
    or None. ``prefix_cache_hit`` is the request shape's hit fraction h.
    """
    bw, ov = decode_scale
    dec = ov * T.decode_overhead_s if engine.decode_overhead_s is None else engine.decode_overhead_s
    pre = T.prefill_overhead_s if engine.prefill_overhead_s is None else engine.prefill_overhead_s
    rates = Rates(
        T,
        T.peak_flops * fe,
        T.bandwidth_bps * he * bw,
        ov * T.layer_overhead_s + dec,
        ov * T.layer_overhead_s + pre,
        spec,
        prefill_scale=prefill_scale,
    )
    return Replica(rates, engine_memory(T, gpu, engine, context_tokens), engine, context_tokens, prefix_cache_hit)
