"""``llmxl estimate``: one scenario as a table (or JSON)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .options import (
    add_layout_options,
    add_prefix_option,
    add_scenario_options,
    add_speculative_options,
    layout_arguments,
    speculative_options,
)
from .output import jsonable, printable, significant, size, usd


def add_parser(sub: Any) -> None:
    p = sub.add_parser("estimate", help="estimate one scenario", description="Estimate one scenario.")
    p.add_argument("--model", required=True, help="catalog name or alias, or a config.json path")
    p.add_argument(
        "--gpu", required=True, help="catalog GPU or system name (llmxl catalog gpus, llmxl catalog systems)"
    )
    add_scenario_options(p, lists=False)
    add_layout_options(p)
    add_speculative_options(p)
    add_prefix_option(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from ..estimate import estimate

    spec = speculative_options(args)
    e = estimate(
        args.model,
        args.gpu,
        batch_size=args.batch,
        prompt_tokens=args.prompt,
        completion_tokens=args.completion,
        tp=args.tp,
        pp=args.pp,
        dtype=args.dtype,
        flops_efficiency=args.flops_efficiency,
        hbm_efficiency=args.hbm_efficiency,
        gpu_hour_usd=args.gpu_hour_usd,
        method=args.method,
        **layout_arguments(args),
        **spec,
        **({} if args.prefix_cache_hit is None else {"prefix_cache_hit": args.prefix_cache_hit}),
    )
    basis = "given" if args.dtype is not None else dtype_basis(args.model)
    if args.json:
        extra = {"speculative": _speculative_record(e.model, spec)} if spec else {}
        print(json.dumps(jsonable({**e.to_dict(), "dtype_basis": basis, **extra}), indent=2))
    else:
        print(printable(estimate_table(e, basis)))
        if spec:
            r = _speculative_record(e.model, spec)
            print(f"speculative decoding: {r['method']}, {r['num_speculative_tokens']} draft token"
                  f"{'s' if r['num_speculative_tokens'] != 1 else ''}, acceptance rate "
                  f"{r['acceptance_rate']:.4g} ({r['tokens_per_step']:.4g} tokens per step)")  # fmt: skip
    return 0


def _speculative_record(model_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The speculative decoder the estimate ran: method, draft tokens, acceptance rate and tokens per step."""
    from ..catalog import get_catalog
    from ..speculation import resolve_speculative
    from ..speculative import tokens_per_step

    c = resolve_speculative(model_id, spec.get("speculative"), spec.get("num_speculative_tokens"),
                            spec.get("acceptance_rate"), get_catalog().speculative)  # fmt: skip
    assert c is not None  # estimate() ran with it
    return {"method": c.method, "num_speculative_tokens": c.k, "acceptance_rate": c.alpha,
            "tokens_per_step": tokens_per_step(c.alpha, c.k)}  # fmt: skip


def dtype_basis(model: Any) -> str:
    """Why a model's default dtype is what it is ("as released", or bf16 and why), for an output to name."""
    from ..resolve import released_dtype

    return released_dtype(model)[1]


def dtype_label(dtype: str, basis: str | None) -> str:
    """ "dtype mxfp4 (as released)": the dtype, and why when the user did not give it."""
    return f"dtype {dtype}" if basis in (None, "given") else f"dtype {dtype} ({basis})"


def _layout(e: Any) -> str:
    """ ", dp=8, ep=8" for an expert/data-parallel layout; nothing without one."""
    dp, ep = getattr(e, "dp", 1), getattr(e, "ep", 1)
    return "" if dp == 1 and ep == 1 else f", dp={dp}, ep={ep}"


def estimate_table(e: Any, basis: str | None = None) -> str:
    """What ``llmxl estimate`` prints: the configuration, then each figure with its unit."""
    price = "no price" if e.gpu_hour_usd is None else f"${float(e.gpu_hour_usd):,.2f} per GPU-hour"
    lines = [
        f"{e.model} on {e.num_gpus} × {e.gpu} (tp={e.tp}, pp={e.pp}{_layout(e)}), {dtype_label(e.dtype, basis)}, "
        f"method {e.method}",
        f"batch {e.batch_size} · prompt {e.prompt_tokens} tokens"
        + (f" ({e.prefix_cache_hit:g} of them from the prefix cache)" if e.prefix_cache_hit else "")
        + f" · completion {e.completion_tokens} tokens · "
        f"efficiency {e.flops_efficiency:g} FLOPs / {e.hbm_efficiency:g} HBM · {price}",
        "",
    ]
    rows = [
        ("Time to first token", f"{significant(e.ttft_s)} s"),
        ("Time per output token", f"{significant(e.tpot_s)} s"),
        ("Time for completion", f"{significant(e.completion_time_s)} s"),
        ("End-to-end latency", f"{significant(e.e2e_latency_s)} s"),
        ("Tokens/second", significant(e.tokens_per_s, 5)),
        ("Prefill tokens/second", significant(e.prefill_tokens_per_s, 5)),
        ("Decode tokens/second", significant(e.decode_tokens_per_s, 5)),
        ("Price / 1k prompt tokens", usd(e.usd_per_1k_prompt_tokens)),
        ("Price / 1k completion tokens", usd(e.usd_per_1k_completion_tokens)),
        ("Weights per GPU", size(e.weight_bytes_per_gpu)),
        ("KV cache per GPU", size(e.kv_cache_bytes_per_gpu)),
        ("Activations per GPU", size(e.activation_bytes_per_gpu)),
        ("Largest batch that fits", str(e.max_batch_size)),
        ("Parameters (total / active)", f"{e.total_parameters / 1e9:.2f}B / {e.active_parameters / 1e9:.2f}B"),
        ("KV cache per token per GPU", size(e.kv_bytes_per_token)),
    ]
    if e.experts_per_decode_step is not None:
        rows.append(
            ("Experts read per decode step", f"{significant(float(e.experts_per_decode_step), 3)} per MoE layer")
        )
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    lines += [f"warning: {w}" for w in e.warnings]
    return "\n".join(lines)
