"""``llmxl simulate``: a benchmark run of one replica, as ``vllm bench serve`` would print it."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from .options import (
    add_engine_option,
    add_layout_options,
    add_prefix_option,
    add_speculative_options,
    layout_arguments,
    speculative_options,
)
from .output import columns, jsonable, significant

_FIGURES = (("TTFT", "ttft"), ("TPOT", "tpot"), ("ITL", "itl"), ("E2E latency", "e2e"))


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a benchmark run of one replica (vllm bench serve's figures)",
        description="Simulate continuous batching on one replica step by step, with the semantics of vllm bench "
        "serve: a closed loop at --max-concurrency, Poisson (or gamma) arrivals at --request-rate, or a burst "
        "when neither bounds the run; prompt and output lengths uniform within --random-range-ratio of their "
        "means. Prints TTFT, TPOT, ITL and end-to-end latency (mean, median, p90, p99) and throughput.",
    )
    p.add_argument("--model", required=True, help="catalog name or alias, or a config.json path")
    p.add_argument(
        "--gpu", required=True, help="catalog GPU or system name (llmxl catalog gpus, llmxl catalog systems)"
    )
    p.add_argument("--tp", default="1", help="tensor-parallel size (default 1)")
    p.add_argument("--pp", default="1", help="pipeline-parallel size (default 1)")
    p.add_argument("--dtype", help="dtype (default: the precision the model is published in)")
    add_layout_options(p)
    add_engine_option(p)
    add_speculative_options(p)
    add_prefix_option(p)
    p.add_argument("--input-len", "--prompt", dest="prompt", required=True, help="mean prompt tokens")
    p.add_argument("--output-len", "--completion", dest="completion", required=True, help="mean output tokens")
    p.add_argument("--max-concurrency", help="requests in flight at most (a closed loop at an infinite rate)")
    p.add_argument("--request-rate", default="inf", help="requests sent per second; inf sends them all at once")
    p.add_argument("--num-prompts", default="1000", help="requests in the run (default 1000)")
    p.add_argument("--random-range-ratio", default="0", help="lengths within ± this fraction of the means")
    p.add_argument("--burstiness", default="1", help="shape of the gamma gaps between requests; 1 is Poisson")
    p.add_argument("--seed", default="0", help="seed of the lengths and gaps")
    p.add_argument("--json", action="store_true", help="print every figure as JSON")


def run(args: argparse.Namespace) -> int:
    from ..checks import as_number
    from ..load.simulate import simulate

    def whole(text: str | None, field: str) -> Any:
        return None if text is None else as_number(text, field)

    r = simulate(
        args.model,
        args.gpu,
        prompt_tokens=as_number(args.prompt, "prompt_tokens"),
        completion_tokens=as_number(args.completion, "completion_tokens"),
        max_concurrency=whole(args.max_concurrency, "max_concurrency"),
        request_rate=as_number(args.request_rate, "request_rate"),
        num_requests=as_number(args.num_prompts, "num_requests"),
        range_ratio=as_number(args.random_range_ratio, "range_ratio"),
        burstiness=as_number(args.burstiness, "burstiness"),
        engine=args.engine,
        tp=as_number(args.tp, "tp"),
        pp=as_number(args.pp, "pp"),
        dtype=args.dtype,
        seed=_seed(args.seed),
        **layout_arguments(args),
        **speculative_options(args),
        **({} if args.prefix_cache_hit is None else {"prefix_cache_hit": args.prefix_cache_hit}),
    )
    if args.json:
        print(json.dumps(jsonable(r.to_dict()), indent=2))
        return 0
    print(simulation_table(r))
    return 0


def simulation_table(r: Any) -> str:
    """What ``llmxl simulate`` prints: the run, its throughput, then each latency's mean and percentiles."""
    how = (
        f"closed loop at {r.max_concurrency} in flight"
        if r.max_concurrency is not None and math.isinf(r.request_rate)
        else ("a burst, all at once" if math.isinf(r.request_rate) else f"{r.request_rate:,.4g} requests/s")
        + ("" if r.max_concurrency is None or math.isinf(r.request_rate) else f", at most {r.max_concurrency}")
    )
    lines = [
        f"{r.model} on {r.tp * r.dp * r.pp} × {r.gpu} (tp={r.tp}, pp={r.pp}"
        + (f", dp={r.dp}, ep={r.ep}" if r.dp > 1 or r.ep > 1 else "")
        + f"), {r.dtype}, engine {r.engine}",
        f"{r.num_requests:,} requests of {r.prompt_tokens:,.0f} prompt / {r.completion_tokens:,.0f} output tokens "
        f"on average, {how}"
        + (f"; {r.prefix_cache_hit:g} of prompt tokens from the prefix cache" if r.prefix_cache_hit else ""),
        "",
        f"  Duration                 {significant(r.duration_s)} s",
        f"  Requests/s               {significant(r.requests_per_s)}",
        f"  Output tokens/s          {significant(r.output_tokens_per_s, 5)}",
        f"  Total tokens/s           {significant(r.total_tokens_per_s, 5)}",
        f"  Peak concurrency         {r.peak_concurrency:,} (cap {r.max_num_seqs:,}; KV cache {r.kv_cache_tokens:,} "
        f"tokens, at most {r.kv_cache_peak_fraction:.0%} used)",
        f"  Preemptions              {r.preemptions:,}",
        "",
    ]
    table = [("latency [ms]", "mean", "median", "p90", "p99")]
    for label, name in _FIGURES:
        table.append((label, *(significant(1e3 * getattr(r, f"{name}{q}_s")) for q in ("", "_p50", "_p90", "_p99"))))
    lines += columns(table, right=frozenset({1, 2, 3, 4}), indent="  ")
    lines += [f"warning: {w}" for w in r.warnings]
    return "\n".join(lines)


def _seed(text: str) -> Any:
    """The seed as a whole number when the text is one; anything else goes on to be refused by name."""
    return int(text) if str(text).strip().isdigit() else text
