"""Options that several subcommands share: a scenario's workload and a capacity plan's inputs."""

from __future__ import annotations

import argparse

from ..checks import METHODS
from ..errors import InvalidInputError

_LAYOUT_HELP = (
    "for a mixture-of-experts model: vLLM -tp T -dp D --enable-expert-parallel is --tp T --dp D --ep T·D; SGLang "
    "--tp N --dp D --enable-dp-attention is --tp N/D --dp D"
)


def add_layout_options(p: argparse.ArgumentParser, *, lists: bool = False) -> None:
    """--dp, --ep and --redundant-experts: expert parallelism with data-parallel attention (llmxl.parallel)."""
    many = ", comma-separated" if lists else ""
    p.add_argument(
        "--dp",
        default=None if lists else "1",
        help=f"attention data-parallel ranks of --tp GPUs each{many} ({_LAYOUT_HELP}; default "
        + ("every expert-parallel layout of a MoE model with --tp left out)" if lists else "1)"),
    )
    p.add_argument(
        "--ep",
        default=None,
        help=f"expert-parallel ranks{many}: 1 (experts tensor-parallel) or tp × dp (default: tp × dp when --dp > 1)",
    )
    if not lists:
        p.add_argument(
            "--redundant-experts",
            default="0",
            help="routed experts placed twice so that experts + these divide by --ep (EPLB; default 0)",
        )


def layout_arguments(args: argparse.Namespace) -> dict[str, object]:
    """dp, ep and redundant_experts of a one-configuration command (ep None: tp × dp when dp > 1, else 1)."""
    return {"dp": args.dp, "ep": args.ep, "redundant_experts": args.redundant_experts}


def add_scenario_options(p: argparse.ArgumentParser, *, lists: bool) -> None:
    from ..estimate import DEFAULTS as D  # the CLI's defaults are estimate()'s

    many = " (comma-separated list)" if lists else ""
    p.add_argument(
        "--tp", default=str(D["tp"]), help=f"tensor-parallel size; must divide the attention heads (default {D['tp']})"
    )
    p.add_argument("--pp", default=str(D["pp"]), help=f"pipeline-parallel size (default {D['pp']})")
    p.add_argument("--batch", default=str(D["batch_size"]), help=f"batch size{many} (default {D['batch_size']})")
    p.add_argument("--prompt", required=True, help=f"prompt tokens{many}")
    p.add_argument("--completion", required=True, help=f"completion tokens{many}")
    p.add_argument(
        "--dtype",
        default=None,
        help="wXaYeZ or alias such as bf16, fp8, fp8-kv16, int4-awq, mxfp4, nvfp4 (default: the precision the "
        "model's weights are published in, e.g. mxfp4 for gpt-oss, fp8 for DeepSeek-V3, bf16 for most)",
    )
    p.add_argument(
        "--flops-efficiency",
        default=None,
        help="fraction of peak compute, (0, 1] (default: the method's; 0.7 for standard and reference, "
        "for serving the GPU entry's own or else the fitted default, llmxl/data/methods.toml)",
    )
    p.add_argument(
        "--hbm-efficiency",
        default=None,
        help="fraction of peak HBM bandwidth, (0, 1] (default: the method's; 0.9 for standard and reference, "
        "for serving the GPU entry's own or else the fitted default, llmxl/data/methods.toml)",
    )
    p.add_argument(
        "--gpu-hour-usd",
        default=D["gpu_hour_usd"],
        help="price of one GPU for one hour in USD (default: the catalog price, if any)",
    )
    p.add_argument(
        "--method",
        default=D["method"],
        choices=list(METHODS),
        help=f"{D['method']} (default; what a serving engine measures, fitted to public measurements; any model), "
        "standard (llm-analysis's roofline; dense models) or reference (reproduces the published table)",
    )


# The methodology's planning example: what `llmxl workbook plan --example` shows.
_PLAN_EXAMPLE = {
    "model": "llama-3.1-70b",
    "gpu": ["h100-sxm-80gb,b200"],
    "prompt": "1000",
    "completion": "300",
    "rps": "5",
    "peak_rps": "15",
    "ttft": "0.5",
    "itl": "0.05",
    "dtype": "fp8",
    "api": "together",
}


def add_speculative_options(p: argparse.ArgumentParser) -> None:
    """--speculative, --num-speculative-tokens, --acceptance-rate: a speculative decoder (default none)."""
    p.add_argument(
        "--speculative",
        metavar="METHOD",
        help="speculative decoding: mtp (DeepSeek's multi-token prediction), eagle3 (a one-layer draft head) or "
        "ngram (prompt lookup); default none",
    )
    p.add_argument(
        "--num-speculative-tokens",
        metavar="K",
        help="draft tokens per step, 1 to 16 (default: the k of the published acceptance figure)",
    )
    p.add_argument(
        "--acceptance-rate",
        metavar="A",
        help="probability that a draft token is accepted, in [0, 1) (default: the published figure for the model "
        "and method, llmxl/data/speculative.toml)",
    )


def speculative_options(args: argparse.Namespace) -> dict[str, object]:
    """The speculative keyword arguments given on the command line ({} when none: today's results)."""
    names = ("speculative", "num_speculative_tokens", "acceptance_rate")
    given = {k: getattr(args, k, None) for k in names}
    given = {k: v for k, v in given.items() if v is not None}
    for k in ("num_speculative_tokens", "acceptance_rate"):
        if k in given:
            try:
                number = float(given[k])
            except ValueError:
                raise InvalidInputError(
                    f"--{k.replace('_', '-')} must be a number, got {given[k]!r}", field=k
                ) from None
            given[k] = int(number) if k == "num_speculative_tokens" and number.is_integer() else number
    return given


def add_prefix_option(p: argparse.ArgumentParser) -> None:
    """--prefix-cache-hit: the fraction of prompt tokens served from the prefix cache (docs/methodology.md)."""
    p.add_argument(
        "--prefix-cache-hit",
        metavar="FRACTION",
        help="fraction of each prompt's tokens served from the engine's prefix cache, in [0, 1) (default 0: none); "
        "prefill computes the rest, and an API bills them at its cached-input price",
    )


def add_engine_option(p: argparse.ArgumentParser) -> None:
    """--engine: a profile, with settings by the engine's own flag names."""
    p.add_argument(
        "--engine",
        metavar="NAME[:FLAG=VALUE,...]",
        help="serving engine: vllm (the default), sglang or tensorrt-llm, with settings by the engine's own flag "
        "names, e.g. vllm:max_num_seqs=512,gpu_memory_utilization=0.95 (see llmxl catalog engines)",
    )


def add_plan_options(
    p: argparse.ArgumentParser, *, example: bool, frontier: bool = False, workbook: bool = False
) -> None:
    """The options of a capacity plan; with ``example`` they default to the methodology's example.

    With ``frontier``, ``--frontier`` is offered and the traffic is no longer required by the parser (a plan
    without it is refused when run, a frontier takes none). With ``workbook`` (``llmxl workbook``), ``--api``
    may be repeated (the compare workbook takes several) and ``--discount`` has no default here (the plan
    workbook's is 0, the compare workbook's 0.3).
    """
    need = not example
    p.add_argument("--model", required=need, help="catalog name or alias, or a config.json path")
    p.add_argument("--gpu", action="append", required=need, help="GPU (repeat, or comma-separate, for several)")
    p.add_argument("--prompt", required=need, help="prompt tokens per request")
    p.add_argument("--completion", required=need, help="completion tokens per request")
    traffic = p.add_mutually_exclusive_group(required=need and not frontier)
    traffic.add_argument("--rps", help="average requests per second")
    traffic.add_argument("--tokens-per-day", help="average traffic as tokens (prompt + completion) per day")
    peak = p.add_mutually_exclusive_group()
    peak.add_argument("--peak-rps", help="peak requests per second (default: the average)")
    peak.add_argument("--peak-factor", help="peak / average, e.g. 3")
    p.add_argument("--ttft", help="target time to first token [s]")
    p.add_argument("--itl", help="target inter-token latency [s]")
    p.add_argument("--tp", help="tensor-parallel sizes to try, comma-separated (default: every divisor up to 8)")
    p.add_argument(
        "--dtype",
        default=None,
        help="dtype(s), comma-separated, e.g. bf16,fp8 (default: the precision the model's weights are published in)",
    )
    p.add_argument(
        "--max-concurrency", help="cap on sequences in flight per replica, below the engine's own (its max_num_seqs)"
    )
    add_engine_option(p)
    add_speculative_options(p)
    add_prefix_option(p)
    p.add_argument(
        "--percentile",
        help="the percentile the latency targets hold at, between 0 and 100 (default 90: p90 TTFT and ITL)",
    )
    p.add_argument(
        "--gpu-hour-usd",
        action="append",
        metavar="USD | GPU=USD,...",
        help="rented price per GPU-hour in USD: one for every GPU (3.99), or by GPU "
        "(h100-sxm-80gb=2.0,b200=7.0; a GPU left out keeps its catalog price). Default: each GPU's catalog price",
    )
    p.add_argument(
        "--discount",
        default=None if workbook else "0",
        help="reservation discount off the rented price, in [0, 1) (default 0"
        + ("; workbook compare: 0.3, for its reserved rows)" if workbook else ")"),
    )
    p.add_argument(
        "--owned",
        action="append",
        metavar="[GPU=]COSTS",
        help="owned cost instead of rent, per GPU: USD per GPU-hour (1.85), or "
        "PURCHASE_USD,YEARS,POWER_KW,PUE,USD_PER_KWH[,OTHER_USD_PER_YEAR] (30000,5,1.0,1.3,0.08,4500); leave "
        "POWER_KW or PUE empty (30000,5,,,0.08) for the GPU's catalog serving power and --pue. One for every "
        "GPU, or GPU=COSTS once per GPU (--owned h100-sxm-80gb=30000,5,,1.3,0.08 --owned b200=2.5); "
        "a GPU given none is rented",
    )
    p.add_argument(
        "--power-kw",
        action="append",
        metavar="KW | GPU=KW,...",
        help="power per GPU with its share of the server, in kW, for the energy (and an owned price): one for "
        "every GPU or by GPU (h100-sxm-80gb=1.1,b200=1.6). Default: each GPU's catalog serving power "
        "(0.8 of its board power, with the server's share)",
    )
    p.add_argument("--pue", help="power usage effectiveness of the data centre (default 1.58, the 2023 average)")
    p.add_argument(
        "--grid-co2",
        metavar="G_PER_KWH | REGION",
        help="grid carbon intensity in g CO2e per kWh, or a region: world (445, IEA 2024; the default), "
        "us (367, EIA 2023), eu27 (214, EEA 2023)",
    )
    p.add_argument(
        "--api",
        action="append" if workbook else None,
        help="an API provider to compare with (e.g. together), or PROMPT,COMPLETION[,CACHED] USD per 1M (CACHED: its "
        "price of cached prompt tokens, for --prefix-cache-hit)"
        + ("; workbook compare: repeat for several (default: every provider the catalog prices the model at)"
           if workbook else ""),
    )  # fmt: skip
    if frontier:
        p.add_argument(
            "--frontier",
            action="store_true",
            help="instead of a plan, the cost-interactivity frontier: USD per 1M tokens against output tokens/s "
            "per user over concurrency, for every GPU, tp and dtype (no traffic, targets or --api)",
        )
    if example:
        p.add_argument(
            "--example",
            action="store_true",
            help="the methodology's planning example (llama-3.1-70b, fp8, on h100-sxm-80gb and b200, 5 requests/s "
            "at a peak of 15, TTFT ≤ 0.5 s, ITL ≤ 0.05 s, against together); options given beside it replace "
            "the example's",
        )


#: What a plan needs when it is not the example: option -> its flag.
_PLAN_NEEDS = {"model": "--model", "gpu": "--gpu", "prompt": "--prompt", "completion": "--completion"}


def plan_inputs(args: argparse.Namespace, command: str = "llmxl workbook plan") -> None:
    """A plan workbook's inputs: the example's where ``--example`` is given and the user gave none, else the
    user's alone (refused, naming the options, when one it needs is missing)."""
    if getattr(args, "example", False):
        given = {"rps": args.tokens_per_day, "peak_rps": args.peak_factor}  # the other of a pair was given
        for k, v in _PLAN_EXAMPLE.items():
            if getattr(args, k, None) is None and given.get(k) is None:
                setattr(args, k, list(v) if isinstance(v, list) else v)
        return
    missing = [flag for k, flag in _PLAN_NEEDS.items() if getattr(args, k, None) is None]
    if args.rps is None and args.tokens_per_day is None:
        missing.append("--rps (or --tokens-per-day)")
    if missing:
        raise InvalidInputError(
            f"{command} needs {', '.join(missing)}; give them (as llmxl plan takes them), or --example "
            "for the methodology's planning example",
            field=missing[0].split()[0].lstrip("-"),
        )


#: --disaggregated's choices and what llmxl.plan takes for them.
DISAGGREGATED = {"no": False, "yes": True, "both": "both"}


def add_disaggregated_option(p: argparse.ArgumentParser) -> None:
    """--disaggregated, of llmxl plan and llmxl workbook plan."""
    p.add_argument(
        "--disaggregated",
        choices=tuple(DISAGGREGATED),
        default="no",
        help="no: aggregated replicas (default); yes: disaggregated prefill and decode pools (xPyD, the KV cache "
        "crossing the link between them; needs --ttft); both: each, and which costs less and why",
    )
