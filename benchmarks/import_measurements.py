"""Bring public measurements into benchmarks/data/measured.csv, in llmxl's terms.

    python benchmarks/import_measurements.py PATH/TO/tensorrt-llm.csv

Reads a table of public TensorRT-LLM measurements (source, model, GPU, parallelism, precision, prompt and
completion tokens, batch or load, metric, value, unit, notes; one row per published figure) and writes the rows
llmxl can model as scenarios: a catalog model, GPU and dtype, plain tensor parallelism (no expert or attention
data parallelism, no speculative decoding), and one of three regimes:

* ``ttft_s``: time to first token of one request (batch 1) [s];
* ``static_tokens_per_s``: generated tokens per second of a static batch, all GPUs (batch × completion /
  end-to-end latency) [tokens/s];
* ``max_load_tokens_per_s_per_gpu``: generated tokens per second per GPU of an offline run that keeps the
  engine full (continuous batching at the largest batch that fits) [tokens/s].

Every row keeps its source and notes; rows llmxl cannot model are listed with the reason on stderr.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "measured.csv"
FIELDS = ("model", "gpu", "tp", "dtype", "prompt_tokens", "completion_tokens", "batch_size", "regime", "value",
          "source", "notes")  # fmt: skip

# How the published tables name things -> llmxl catalog names (resolved through the catalog's aliases).
MODELS = {
    "llama-2-7b": "llama-2-7b",
    "llama-2-13b": "llama-2-13b",
    "llama-2-70b": "llama-2-70b",
    "mistral-7b": "mistral-7b",
    "Mixtral 8x7B": "mixtral-8x7b",
    "mistralai/Mixtral-8x7B-v0.1": "mixtral-8x7b",
    "mistralai/Mixtral-8x22B-v0.1": "mixtral-8x22b",
    "openai/gpt-oss-120b": "gpt-oss-120b",
    "nvidia/Llama-3.3-70B-Instruct": "llama-3.3-70b",
    "nvidia/Llama-3.1-8B-Instruct": "llama-3.1-8b",
    "nvidia/Llama-3.1-405B-Instruct": "llama-3.1-405b",
    "meta-llama/Llama-3.1-405B": "llama-3.1-405b",
    "meta-llama/Llama-3.1-70B": "llama-3.1-70b",
    "meta-llama/Llama-3.1-8B": "llama-3.1-8b",
    "deepseek-ai/DeepSeek-R1": "deepseek-v3",
    "nvidia/DeepSeek-R1": "deepseek-v3",
    "nvidia/Qwen3-30B-A3B": "qwen3-30b-a3b",
    "nvidia/Qwen3-235B-A22B": "qwen3-235b-a22b",
    "meta-llama/Llama-4-Scout-17B-16E-Instruct": "llama-4-scout",
    "nvidia/Llama-4-Maverick-17B-128E-Instruct": "llama-4-maverick",
}
GPUS = {"a100": "a100-sxm-80gb", "h100": "h100-sxm-80gb", "h200": "h200-sxm-141gb", "l40s": "l40s", "b200": "b200"}


def _model(text: str) -> str | None:
    if "->" in text:
        text = text.split("->")[-1]
    text = re.sub(r"\s*\(.*\)\s*$", "", text.strip())
    text = re.sub(r"(-0528)?(-NVFP4-v2|-FP8|-FP4|-NVFP4)?$", "", text)
    for key, ident in MODELS.items():
        if text == key or text.startswith(key + " ") or text.lower() == key.lower():
            return ident
    return None


def _gpu(text: str) -> str | None:
    low = text.lower()
    for key, ident in GPUS.items():
        if key in low:
            return ident
    return None


def _dtype(text: str, model: str) -> str | None:
    low = text.lower()
    if "->" in low:
        low = low.split("->")[-1].strip()
    if model == "gpt-oss-120b" or "mxfp4" in low:
        return "mxfp4"  # weights as shipped; attention in bf16
    if "nvfp4" in low or re.search(r"\bfp4\b", low):
        return "nvfp4"
    if "fp8" in low:
        return "fp8"
    if "fp16" in low or "bf16" in low or "w16a16e16" in low:
        return "bf16"
    return None


def convert(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    keep, skipped = [], []
    for r in csv.DictReader(path.open(encoding="utf-8")):
        what = f"{r['model'][:50]} on {r['gpu'][:20]} ({r['metric']})"
        model, gpu = _model(r["model"]), _gpu(r["gpu"])
        parallel = r["parallelism"].strip()
        if model is None or gpu is None:
            skipped.append(f"{what}: model or GPU not in the catalog")
            continue
        if not re.fullmatch(r"TP\d+", parallel):
            skipped.append(f"{what}: parallelism {parallel!r} (llmxl models tensor parallelism only)")
            continue
        dtype = _dtype(r["precision"], model)
        if dtype is None:
            skipped.append(f"{what}: precision {r['precision']!r}")
            continue
        tp = int(parallel[2:])
        metric, value = r["metric"], float(r["value"])
        if metric == "ttft" and r["unit"] == "ms" and r["batch"].strip() == "1":
            regime, value, batch = "ttft_s", value / 1000, "1"
        elif metric == "throughput" and r["batch"].strip().isdigit() and "UNCERTAIN" not in r["notes"]:
            regime, batch = "static_tokens_per_s", r["batch"].strip()
        elif metric in ("output_tokens_per_s_total", "output_tokens_per_s_per_gpu") and (
            r["batch"].startswith("max load") or r["batch"].startswith("QPS=INF")
        ):
            regime, batch = "max_load_tokens_per_s_per_gpu", ""
            if metric == "output_tokens_per_s_total":
                value /= tp
        else:
            skipped.append(f"{what}: regime {r['batch'][:30]!r} / {metric}")
            continue
        keep.append(
            {
                "model": model,
                "gpu": gpu,
                "tp": str(tp),
                "dtype": dtype,
                "prompt_tokens": r["isl"].strip(),
                "completion_tokens": r["osl"].strip(),
                "batch_size": batch,
                "regime": regime,
                "value": f"{value:.6g}",
                "source": r["source"],
                "notes": r["notes"],
            }
        )
    return keep, skipped


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    keep, skipped = convert(Path(sys.argv[1]))
    OUT.parent.mkdir(exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(keep)
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT} ({len(keep)} rows)")
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
