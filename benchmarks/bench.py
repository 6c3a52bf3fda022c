"""llmxl benchmarks: prints a table of medians over repeated runs.

    python benchmarks/bench.py            # full sizes (see benchmarks/README.md)
    python benchmarks/bench.py --quick    # tiny sizes, proves the script still runs (CI)

Not timed tests: the goals are printed beside the figures, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.xlwings_harness

import llmxl  # noqa: E402

SCENARIO = dict(
    tp=2,
    batch_size=8,
    prompt_tokens=512,
    completion_tokens=512,
    flops_efficiency=0.7,
    hbm_efficiency=0.9,
    gpu_hour_usd=2.21,
    method="reference",
)
# The serving method on a mixture-of-experts, latent-attention model (issue: serving method).
SERVING = dict(
    tp=8,
    dtype="fp8",
    batch_size=32,
    prompt_tokens=1024,
    completion_tokens=512,
    flops_efficiency=0.7,
    hbm_efficiency=0.9,
    gpu_hour_usd=4.59,
    method="serving",
)


def median_time(fn, repeat: int, number: int = 1) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def bench_scalar(quick: bool) -> list[tuple[str, str, str]]:
    number = 200 if quick else 5000
    ours = median_time(lambda: llmxl.estimate("llama-2-70b", "a100-sxm-80gb", **SCENARIO), 5 if quick else 11, number)
    serving = median_time(
        lambda: llmxl.estimate("deepseek-v3", "h200-sxm-141gb", **SERVING), 5 if quick else 11, number
    )
    rows = [
        ("scalar estimate(), reference, dense", f"{ours * 1e6:.1f} µs/call", ""),
        ("scalar estimate(), serving, MoE + MLA (deepseek-v3)", f"{serving * 1e6:.1f} µs/call", ""),
    ]
    try:
        from llm_analysis.analysis import LLMAnalysis
        from llm_analysis.config import DtypeConfig, GPUConfig, ModelConfig, ParallelismConfig
        from llm_analysis.logger import logger
    except ImportError:
        rows.append(("llm-analysis 0.2.2, same scenario", "not installed (pip install '.[bench]')", ""))
        return rows
    logger.setLevel(logging.CRITICAL)
    logging.disable(logging.WARNING)
    m, _g = llmxl.get_model("llama-2-70b"), llmxl.get_gpu("a100-sxm-80gb")
    mc = ModelConfig(
        name="llama-2-70b",
        num_layers=m.num_hidden_layers,
        n_head=m.num_attention_heads,
        hidden_dim=m.hidden_size,
        vocab_size=m.vocab_size,
        max_seq_len=m.max_position_embeddings,
        num_key_value_heads=m.num_key_value_heads,
        ffn_embed_dim=m.intermediate_size,
        expansion_ratio=m.intermediate_size / m.hidden_size,
        model_type="llama",
    )
    gc = GPUConfig(
        name="a100",
        mem_per_GPU_in_GB=80,
        hbm_bandwidth_in_GB_per_sec=2039,
        intra_node_bandwidth_in_GB_per_sec=300,
        intra_node_min_message_latency=8e-6,
        peak_fp16_TFLOPS=312,
        peak_i8_TFLOPS=624,
        peak_i4_TFLOPS=1248,
    )

    def peer():
        a = LLMAnalysis(
            mc, gc, DtypeConfig(), ParallelismConfig(tp_size=2), flops_efficiency=0.7, hbm_memory_efficiency=0.9
        )
        a.inference(batch_size_per_gpu=8, seq_len=512, num_tokens_to_generate=512, cost_per_gpu_hour=2.21)

    theirs = median_time(peer, 5 if quick else 11, 20 if quick else 200)
    logging.disable(logging.NOTSET)
    rows.append(
        (
            "llm-analysis 0.2.2, the dense scenario",
            f"{theirs * 1e6:.1f} µs/call",
            f"llmxl {theirs / ours:.0f}× faster; serving {theirs / serving:.0f}× (goal ≥ 30× each)",
        )
    )
    return rows


def bench_vector(quick: bool) -> list[tuple[str, str, str]]:
    n = 10_000 if quick else 1_000_000
    rng = np.random.default_rng(0)
    b, s, c = rng.integers(1, 64, n), rng.integers(1, 4096, n), rng.integers(1, 4096, n)
    t = median_time(
        lambda: llmxl.estimate("llama-3.1-8b", "h100-sxm-80gb", batch_size=b, prompt_tokens=s, completion_tokens=c),
        3 if quick else 7,
    )
    ts = median_time(
        lambda: llmxl.estimate(
            "deepseek-v3",
            "h200-sxm-141gb",
            tp=8,
            dtype="fp8",
            batch_size=b,
            prompt_tokens=s,
            completion_tokens=c,
            method="serving",
            on_error="nan",
        ),
        3 if quick else 7,
    )
    return [
        (
            f"vectorised estimate(), {n:,} scenarios",
            f"{t * 1e3:.0f} ms",
            f"{n / t:,.0f} scenarios/s (goal ≥ 2,000,000)",
        ),
        (
            f"vectorised serving, deepseek-v3, {n:,} scenarios",
            f"{ts * 1e3:.0f} ms",
            f"{n / ts:,.0f} scenarios/s (goal ≥ 2,000,000)",
        ),
    ]


PLAN_GPUS = [
    "h100-sxm-80gb",
    "h200-sxm-141gb",
    "b200",
    "a100-sxm-80gb",
    "l40s",
    "mi300x",
    "mi325x",
    "mi355x",
    "gaudi-3",
    "rtx-pro-6000-blackwell-server",
]


def bench_plan(quick: bool) -> list[tuple[str, str, str]]:
    """plan() over 10 GPUs × tp {1, 2, 4, 8} × 3 dtypes, concurrency searched up to each largest batch."""

    def run():
        return llmxl.plan(
            "llama-3.1-70b",
            PLAN_GPUS,
            dtype=["bf16", "fp8", "int4-awq"],
            prompt_tokens=1000,
            completion_tokens=300,
            requests_per_s=5,
            peak_requests_per_s=15,
            ttft_s_max=0.5,
            itl_s_max=0.05,
            gpu_hour_usd=3.0,
        )

    p = run()
    t = median_time(run, 3 if quick else 11)
    return [
        (
            f"plan(), {len(p.rows)} configurations, targets at p90 under vLLM",
            f"{t * 1e3:.0f} ms",
            "goal ≤ 500 ms (aiconfigurator's search: 30-40 s)",
        )
    ]


def bench_simulate(quick: bool) -> list[tuple[str, str, str]]:
    """The step-level simulator: a closed loop and a Poisson run, as vllm bench serve would run them."""
    shape = dict(prompt_tokens=1000, completion_tokens=200)
    closed = 200 if quick else 1000
    poisson = 1000 if quick else 10_000

    def loop():
        return llmxl.simulate("llama-3.1-8b", "h100-sxm-80gb", **shape, max_concurrency=64, num_requests=closed)

    def rate():
        return llmxl.simulate("llama-3.1-8b", "h100-sxm-80gb", **shape, request_rate=20, num_requests=poisson)

    loop()
    a = median_time(loop, 3 if quick else 7)
    b = median_time(rate, 3 if quick else 5)
    return [
        (f"simulate(), {closed:,} requests, closed loop at 64", f"{a * 1e3:.0f} ms", "goal ≤ 50 ms for 1,000"),
        (f"simulate(), {poisson:,} requests, Poisson at 20/s", f"{b * 1e3:.0f} ms", "goal ≤ 500 ms for 10,000"),
    ]


def bench_udf(quick: bool) -> list[tuple[str, str, str]]:
    from tests.xlwings_harness import call_as_excel, com_column, windows_xlwings

    n = 1000 if quick else 10_000
    col = com_column([float(1 + i % 32) for i in range(n)])
    with windows_xlwings() as (mod, xlu):
        import xlwings as xw

        def double(batch_size):
            return [[2 * r[0]] for r in batch_size]

        double = xlu.xlfunc(xlu.xlarg("batch_size", ndim=2)(double))
        ours = median_time(
            lambda: call_as_excel(mod.LLM_TOKENS_PER_SEC, "llama-2-70b", "a100-sxm-80gb", col, 512.0, 512.0, 2.0, 2.21),
            5 if quick else 11,
        )
        floor = median_time(lambda: call_as_excel(double, col), 5 if quick else 11)
        del xw
    return [
        (
            f"UDF over a {n:,}-row range",
            f"{ours * 1e3:.1f} ms",
            f"{ours / floor:.2f}× the trivial UDF ({floor * 1e3:.1f} ms; goal ≤ 2×)",
        )
    ]


def bench_import(quick: bool) -> list[tuple[str, str, str]]:
    """Timed inside fresh interpreters, after `import pydantic, numpy`, so start-up noise drops out."""
    code = (
        "import time, pydantic, numpy\n"
        "t0 = time.perf_counter(); import llmxl; t1 = time.perf_counter()\n"
        "llmxl.estimate('llama-2-70b', 'a100-sxm-80gb', tp=2, prompt_tokens=128, completion_tokens=16)\n"
        "print(t1 - t0, time.perf_counter() - t0)\n"
    )
    runs = [
        tuple(
            map(
                float,
                subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split(),
            )
        )
        for _ in range(3 if quick else 11)
    ]
    imp = statistics.median(r[0] for r in runs)
    first = statistics.median(r[1] for r in runs)
    return [
        ("import llmxl, after import pydantic, numpy", f"{imp * 1e3:.1f} ms", "goal ≤ 60 ms"),
        ("  ... and the first estimate() (loads pydantic models, catalog)", f"{first * 1e3:.0f} ms", ""),
    ]


def bench_workbooks(quick: bool) -> list[tuple[str, str, str]]:
    from llmxl.cli import main
    from llmxl.workbook.reference import write_reference_workbook

    with tempfile.TemporaryDirectory() as tmp:  # as the CLI writes it: cached values, fingerprint, atomic
        t = median_time(lambda: write_reference_workbook(Path(tmp) / "ref.xlsx", force=True), 3 if quick else 5)
        batches = ",".join(str(i) for i in range(1, 11 if quick else 51))
        prompts = ",".join(str(128 * i) for i in range(1, 6 if quick else 11))
        completions = "128,512" if quick else ",".join(str(64 * i) for i in range(1, 11))
        scenarios = 2 * len(batches.split(",")) * len(prompts.split(",")) * len(completions.split(","))
        argv = [
            "report",
            "--model",
            "llama-2-70b",
            "--model",
            "llama-3.1-70b",
            "--gpu",
            "a100-sxm-80gb",
            "--tp",
            "2",
            "--batch",
            batches,
            "--prompt",
            prompts,
            "--completion",
            completions,
            "--no-progress",
            "-o",
            str(Path(tmp) / "report.xlsx"),
            "--force",
        ]
        times = {}
        for method in ("serving", "standard"):  # serving is the default; standard's Calc sheet differs
            with contextlib.redirect_stdout(io.StringIO()):  # the CLI says "wrote ..."
                times[method] = median_time(lambda m=method: main([*argv, "--method", m]), 1 if quick else 3)
    return [
        ("write the reference workbook", f"{t * 1e3:.0f} ms", "goal ≤ 1 s"),
        *(
            (f"CLI report, {scenarios:,} scenarios, method {m}", f"{r:.2f} s", "goal ≤ 10 s for 10,000")
            for m, r in times.items()
        ),
    ]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, to prove the script runs")
    args = p.parse_args()
    rows: list[tuple[str, str, str]] = []
    for bench in (bench_scalar, bench_vector, bench_plan, bench_simulate, bench_udf, bench_import, bench_workbooks):
        rows += bench(args.quick)
    widths = [max(len(r[i]) for r in [*rows, ("measure", "median", "note")]) for i in range(3)]
    print(
        f"llmxl {llmxl.__version__}, Python {sys.version.split()[0]}, numpy {np.__version__}"
        + (" (quick mode)" if args.quick else "")
    )
    for r in [("measure", "median", "note"), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
