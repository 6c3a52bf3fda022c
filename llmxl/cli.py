"""The ``llmxl`` command line.

Every error prints one line on stderr and exits with code 2. Heavy modules
(openpyxl for workbooks) load only for the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from . import __version__
from .errors import LlmxlError
from .estimate import METHODS

EXIT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_scenario_options(p: argparse.ArgumentParser, *, lists: bool) -> None:
    from .estimate import DEFAULTS as D  # the CLI's defaults are estimate()'s

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
        default=D["dtype"],
        help=f"wXaYeZ or alias such as bf16, fp8, fp8-kv16, int4-awq, mxfp4, nvfp4 (default {D['dtype']})",
    )
    p.add_argument(
        "--flops-efficiency",
        default=None,
        help="fraction of peak compute, (0, 1] (default: the method's; 0.7 for standard and reference, "
        "the GPU's catalog value for serving)",
    )
    p.add_argument(
        "--hbm-efficiency",
        default=None,
        help="fraction of peak HBM bandwidth, (0, 1] (default: the method's; 0.9 for standard and reference, "
        "the GPU's catalog value for serving)",
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


# The methodology's planning example: what `llmxl workbook plan` shows when given no options.
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


def _add_plan_options(p: argparse.ArgumentParser, *, example: bool) -> None:
    """The options of a capacity plan; with ``example`` they default to the methodology's example."""
    need = not example
    p.add_argument("--model", required=need, help="catalog name or alias, or a config.json path")
    p.add_argument("--gpu", action="append", required=need, help="GPU (repeat, or comma-separate, for several)")
    p.add_argument("--prompt", required=need, help="prompt tokens per request")
    p.add_argument("--completion", required=need, help="completion tokens per request")
    traffic = p.add_mutually_exclusive_group(required=need)
    traffic.add_argument("--rps", help="average requests per second")
    traffic.add_argument("--tokens-per-day", help="average traffic as tokens (prompt + completion) per day")
    peak = p.add_mutually_exclusive_group()
    peak.add_argument("--peak-rps", help="peak requests per second (default: the average)")
    peak.add_argument("--peak-factor", help="peak / average, e.g. 3")
    p.add_argument("--ttft", help="target time to first token [s]")
    p.add_argument("--itl", help="target inter-token latency [s]")
    p.add_argument("--tp", help="tensor-parallel sizes to try, comma-separated (default: every divisor up to 8)")
    p.add_argument("--dtype", default="bf16", help="dtype(s), comma-separated, e.g. bf16,fp8 (default bf16)")
    p.add_argument("--max-concurrency", help="cap on sequences in flight per replica (e.g. vLLM's max_num_seqs)")
    p.add_argument("--gpu-hour-usd", help="rented price per GPU-hour in USD (default: the catalog price)")
    p.add_argument("--discount", default="0", help="reservation discount off the rented price, in [0, 1)")
    p.add_argument(
        "--owned",
        help="owned cost instead of rent: PURCHASE_USD,YEARS,POWER_KW,PUE,USD_PER_KWH[,OTHER_USD_PER_YEAR] "
        "per GPU, or USD per GPU-hour",
    )
    p.add_argument("--api", help="an API provider to compare with (e.g. together), or PROMPT,COMPLETION USD per 1M")
    if example:
        p.set_defaults(**_PLAN_EXAMPLE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="llmxl", description="What it costs to serve a large language model.")
    parser.add_argument("--version", action="version", version=f"llmxl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("estimate", help="estimate one scenario", description="Estimate one scenario.")
    p.add_argument("--model", required=True, help="catalog name or alias, or a config.json path")
    p.add_argument("--gpu", required=True, help="catalog GPU name")
    _add_scenario_options(p, lists=False)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser("catalog", help="list models, GPUs or dtypes", description="List catalog entries.")
    p.add_argument("kind", choices=["models", "gpus", "dtypes"])
    p.add_argument("--json", action="store_true", help="print every field as JSON")

    p = sub.add_parser(
        "workbook",
        help="write a template workbook with live formulas",
        description="Write a template workbook whose cells hold live Excel formulas.",
    )
    p.add_argument(
        "template",
        choices=["reference", "plan"],
        help="reference: the published Llama-2-70B table; plan: a capacity plan (the plan options below; "
        "without them, the methodology's example: llama-3.1-70b on h100-sxm-80gb and b200)",
    )
    p.add_argument("-o", "--output", required=True, help="path of the .xlsx to write")
    p.add_argument("--force", action="store_true", help="overwrite a file llmxl did not write, or one edited since")
    _add_plan_options(p, example=True)

    p = sub.add_parser(
        "report",
        help="write a workbook report for a sweep of scenarios",
        description="Write a workbook (and optionally CSV/JSON) for the cartesian product "
        "of the listed models, GPUs, batch sizes and token counts.",
    )
    p.add_argument("--model", action="append", required=True, help="model (repeat, or comma-separate, for several)")
    p.add_argument("--gpu", action="append", required=True, help="GPU (repeat for several)")
    _add_scenario_options(p, lists=True)
    p.add_argument("-o", "--output", help="path of the .xlsx to write")
    p.add_argument("--csv", help="also write the rows, computed by the Python engine, as CSV")
    p.add_argument("--json", dest="json_path", help="also write the rows, computed by the Python engine, as JSON")
    p.add_argument("--force", action="store_true", help="overwrite files llmxl did not write, or ones edited since")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    p.add_argument(
        "--max-scenarios",
        help="refuse reports larger than this many scenarios (default 100,000: about 75 s and 6 GB of memory)",
    )

    p = sub.add_parser(
        "plan",
        help="GPUs, monthly cost and $/1M tokens for a traffic and a latency target",
        description="Plan capacity with the serving method: every candidate configuration (GPU, tp, dtype) "
        "with the concurrency that meets the latency target, the replicas the peak needs, the monthly cost "
        "and the cost per 1M tokens; the cheapest first. With --api, the traffic at which self-hosting "
        "costs less than the API.",
    )
    _add_plan_options(p, example=False)
    p.add_argument("-o", "--output", help="also write the plan as a live-formula workbook (.xlsx)")
    p.add_argument("--csv", help="also write every candidate as CSV")
    p.add_argument("--json", dest="json_path", help="also write the plan (and break-even) as JSON; - for stdout")
    p.add_argument("--force", action="store_true", help="overwrite files llmxl did not write, or ones edited since")

    p = sub.add_parser(
        "calibrate",
        help="fit the serving constants of a GPU to your own measurements",
        description="Fit the serving method's constants (efficiencies, overheads, all-reduce latency) of one GPU "
        "to measurements: a plain CSV (columns model, gpu, tp, dtype, prompt_tokens, completion_tokens, "
        "batch_size or concurrency, and any of ttft_s, tpot_s, e2e_s, output_tokens_per_s), result JSONs of "
        "vllm bench serve --save-result, or genai-perf's profile_export_genai_perf.csv. With --save NAME, "
        "the result becomes the GPU <gpu>@NAME in your user catalog, usable everywhere.",
    )
    p.add_argument("files", nargs="+", help="measurement files")
    p.add_argument("--format", default="auto", choices=["auto", "csv", "vllm", "genai-perf"],
                   help="file format (default: .json is vLLM, a first line 'Metric,' genai-perf)")  # fmt: skip
    p.add_argument("--model", help="model, where the file does not name it")
    p.add_argument("--gpu", help="GPU the measurements ran on, where the file does not name it (vLLM, genai-perf)")
    p.add_argument("--tp", help="tensor-parallel size, where the file does not give it (default 1)")
    p.add_argument("--dtype", help="dtype, where the file does not give it (default w16a16e16)")
    p.add_argument("--concurrency", help="concurrency of a genai-perf run (its CSV does not record it)")
    p.add_argument("--fit", help="comma-separated constants to fit (default: every one the measurements inform)")
    p.add_argument("--save", metavar="NAME", help="save as the GPU <gpu>@NAME in the user catalog")
    p.add_argument("--catalog", help="catalog file to save to (default: LLMXL_CATALOG's first file, or "
                   "~/.config/llmxl/catalog.toml)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace a saved calibration of the same name")
    p.add_argument("--json", action="store_true", help="print the calibration as JSON")
    return parser


_CONTROL = None


def printable(text: str) -> str:
    """Text safe for a terminal: control and escape characters shown as \\xNN, never interpreted."""
    global _CONTROL
    if _CONTROL is None:
        import re

        _CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _short_text(text: str, width: int = 48) -> str:
    """One line of at most ``width`` characters (the full text is in --json)."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        mag = math.floor(math.log10(abs(value)))
        decimals = max(0, digits - 1 - mag)
        return f"{value:,.{decimals}f}"
    return str(value)


def _size(nbytes: float) -> str:
    if nbytes >= 1024**3:
        return f"{nbytes / 1024**3:.2f} GiB"
    if nbytes >= 1024**2:
        return f"{nbytes / 1024**2:.1f} MiB"
    return f"{nbytes / 1024:.1f} KiB"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${_fmt(value, 3)}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _estimate_table(e: Any) -> str:
    price = "no price" if e.gpu_hour_usd is None else f"${float(e.gpu_hour_usd):,.2f} per GPU-hour"
    lines = [
        f"{e.model} on {e.num_gpus} × {e.gpu} (tp={e.tp}, pp={e.pp}), {e.dtype}, method {e.method}",
        f"batch {e.batch_size} · prompt {e.prompt_tokens} tokens · completion {e.completion_tokens} tokens · "
        f"efficiency {e.flops_efficiency:g} FLOPs / {e.hbm_efficiency:g} HBM · {price}",
        "",
    ]
    rows = [
        ("Time to first token", f"{_fmt(e.ttft_s)} s"),
        ("Time per output token", f"{_fmt(e.tpot_s)} s"),
        ("Time for completion", f"{_fmt(e.completion_time_s)} s"),
        ("End-to-end latency", f"{_fmt(e.e2e_latency_s)} s"),
        ("Tokens/second", _fmt(e.tokens_per_s, 5)),
        ("Prefill tokens/second", _fmt(e.prefill_tokens_per_s, 5)),
        ("Decode tokens/second", _fmt(e.decode_tokens_per_s, 5)),
        ("Price / 1k prompt tokens", _usd(e.usd_per_1k_prompt_tokens)),
        ("Price / 1k completion tokens", _usd(e.usd_per_1k_completion_tokens)),
        ("Weights per GPU", _size(e.weight_bytes_per_gpu)),
        ("KV cache per GPU", _size(e.kv_cache_bytes_per_gpu)),
        ("Activations per GPU", _size(e.activation_bytes_per_gpu)),
        ("Largest batch that fits", str(e.max_batch_size)),
        ("Parameters (total / active)", f"{e.total_parameters / 1e9:.2f}B / {e.active_parameters / 1e9:.2f}B"),
        ("KV cache per token per GPU", _size(e.kv_bytes_per_token)),
    ]
    if e.experts_per_decode_step is not None:
        rows.append(("Experts read per decode step", f"{_fmt(float(e.experts_per_decode_step), 3)} per MoE layer"))
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    lines += [f"warning: {w}" for w in e.warnings]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cmd_estimate(args: argparse.Namespace) -> int:
    from .estimate import estimate

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
    )
    if args.json:
        print(json.dumps(_jsonable(e.to_dict()), indent=2))
    else:
        print(_estimate_table(e))
    return 0


def _cmd_catalog(args: argparse.Namespace) -> int:
    from . import catalog

    cat = catalog.get_catalog()
    specs = list(cat.entries[args.kind].values())
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in specs], indent=2))
        return 0
    if args.kind == "models":
        header = (
            "id",
            "type",
            "layers",
            "hidden",
            "heads",
            "kv heads",
            "mlp",
            "vocab",
            "context",
            "params",
            "active",
            "serving only",
            "checked",
            "source",
        )
        rows = [
            (
                s.id,
                s.model_type,
                s.num_hidden_layers,
                s.hidden_size,
                s.num_attention_heads,
                s.num_key_value_heads,
                s.intermediate_size,
                s.vocab_size,
                s.max_position_embeddings,
                f"{s.total_parameters / 1e9:.2f}B",
                f"{s.active_parameters / 1e9:.2f}B",
                "; ".join(s.standard_only_features) or "-",
                s.checked.isoformat() if s.checked else "-",
                _short_text(s.source),
            )
            for s in specs
        ]
    elif args.kind == "gpus":
        header = (
            "id",
            "GiB",
            "GB/s",
            "fp16 TFLOPS",
            "fp8 TFLOPS",
            "fp4 TFLOPS",
            "int8 TOPS",
            "int4 TOPS",
            "link GB/s",
            "$/GPU-h",
            "price from",
            "checked",
            "source",
        )
        rows = [
            (
                s.id,
                _num(s.memory_gib),
                _num(s.hbm_bandwidth_gbs),
                _num(s.fp16_tflops),
                _num(s.fp8_tflops),
                _num(s.fp4_tflops),
                _num(s.int8_tops),
                _num(s.int4_tops),
                _num(s.interconnect_gbs),
                "-" if s.usd_per_hour is None else f"${s.usd_per_hour:,.2f}",
                "-"
                if s.usd_per_hour is None
                else f"{_short_text(s.usd_per_hour_source or '', 30)} ({s.usd_per_hour_checked or 'undated'})",
                s.checked.isoformat() if s.checked else "-",
                _short_text(s.source),
            )
            for s in specs
        ]
    else:
        header = ("id", "weight bits", "activation bits", "embedding bits", "KV bits", "compute", "aliases")
        rows = [
            (
                s.id,
                _num(s.weight_bits),
                _num(s.activation_bits),
                _num(s.embedding_bits),
                _num(s.kv_bits),
                s.compute_kind,
                ", ".join(s.aliases),
            )
            for s in specs
        ]
    table = [tuple(str(c) for c in header)] + [tuple(printable(str(c)) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _cmd_workbook(args: argparse.Namespace) -> int:
    if args.template == "plan":
        from .plan_cli import run_plan

        args.csv = args.json_path = None
        return run_plan(args)
    from .workbook.reference import write_reference_workbook

    path = write_reference_workbook(args.output, force=args.force)
    print(f"wrote {path}")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from .plan_cli import run_plan

    return run_plan(args)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate_cli import run_calibrate

    return run_calibrate(args)


def _cmd_report(args: argparse.Namespace) -> int:
    from .workbook.report import run_report

    return run_report(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    handler = {
        "estimate": _cmd_estimate,
        "catalog": _cmd_catalog,
        "workbook": _cmd_workbook,
        "report": _cmd_report,
        "plan": _cmd_plan,
        "calibrate": _cmd_calibrate,
    }[args.command]
    import signal

    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        # A terminated run unwinds like an interrupted one, so half-written temporary files are removed.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        return handler(args)
    except LlmxlError as exc:
        print(f"llmxl: error: {printable(exc.message)}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # e.g. `llmxl catalog models | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f": {printable(str(exc.filename))}" if exc.filename else ""
        print(f"llmxl: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("llmxl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
