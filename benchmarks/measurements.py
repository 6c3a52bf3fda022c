"""The public measurements under benchmarks/data, as points the benchmark scripts share.

A point is one published figure in the form of a row of benchmarks/data/measured.csv (model, gpu, tp, dtype,
prompt_tokens, completion_tokens, batch_size, regime, value, source, notes; all strings), whichever file it
came from. This module owns what a point means:

* the data files (``MEASURED``, ``RUN_FILES``) and loading them into points (``load``);
* the regimes a point can measure (``REGIMES``) and the kinds of figure a user asks about (``KINDS``);
* how llmxl estimates a point with a method (``predict``), and which llmxl.calibrate figure it is
  (``STATIC_FIGURES``, ``CONCURRENT_FIGURES``, ``calibration_measurement``);
* which publication a point comes from, as cross-validation and calibration group them (``source_group``,
  ``group_label``).

A new regime goes into ``REGIMES`` (and one of ``KINDS``), ``predict`` and ``calibration_measurement``; a new
data file into ``RUN_FILES`` if it is a run file, else a reader of its own called by ``load``, and its group's
name into ``source_group`` and ``group_label`` if the defaults do not fit it.
Imported by the scripts of benchmarks/ (which put this directory on sys.path); imports none of them.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import llmxl
from llmxl import LlmxlError
from llmxl.calibration import Measurement

DATA = Path(__file__).resolve().parent / "data"
#: Public TensorRT-LLM figures, one point per row, each with its source (made by benchmarks/import_measurements.py).
MEASURED = DATA / "measured.csv"
#: Public measurements of other engines: run file -> what it holds. One run per row in the plain CSV `llmxl
#: calibrate` reads (so each is also a stack to calibrate on); each figure of a run becomes a point of the
#: regime STATIC_FIGURES or CONCURRENT_FIGURES maps it from (``run_points``).
RUN_FILES = {
    DATA / "vllm-nightly-latency.csv": "vLLM's nightly benchmark",
    DATA / "nim-llama-3.3-70b-2xh100-fp8.csv": "NVIDIA NIM",
    DATA / "gpt-fast-a100.csv": "gpt-fast, batch 1",
}
#: A stack of one model, engine and GPU configuration at several concurrencies (NVIDIA NIM's published table).
ONE_STACK = DATA / "nim-llama-3.3-70b-2xh100-fp8.csv"

REGIMES = {
    "ttft_s": "time to first token, one request [s]",
    "static_tokens_per_s": "tokens/s of a static batch, all GPUs",
    "max_load_tokens_per_s_per_gpu": "tokens/s per GPU at full load (continuous batching)",
    "e2e_s": "end-to-end latency of a static batch [s]",
    "concurrency_ttft_s": "time to first token at a fixed concurrency [s]",
    "concurrency_itl_s": "inter-token latency at a fixed concurrency [s]",
    "concurrency_tokens_per_s": "output tokens/s at a fixed concurrency, all GPUs",
}
#: The three kinds of figure a user asks about, each made of the regimes above
KINDS = {
    "time to first token": ("ttft_s", "concurrency_ttft_s"),
    "decode latency (batch end-to-end, inter-token)": ("e2e_s", "concurrency_itl_s"),
    "throughput (tokens/s)": ("static_tokens_per_s", "max_load_tokens_per_s_per_gpu", "concurrency_tokens_per_s"),
}
#: The largest concurrency the offline runs allowed (their CUDA-graph batch sizes went up to 8192).
MAX_LOAD_CONCURRENCY = 8192

#: regime -> the figure (llmxl.calibration.METRICS) it measures, for a static batch and at a fixed concurrency
STATIC_FIGURES = {"e2e_s": "e2e_s", "static_tokens_per_s": "output_tokens_per_s"}
CONCURRENT_FIGURES = {"concurrency_ttft_s": "ttft_s", "concurrency_itl_s": "tpot_s",
                      "concurrency_tokens_per_s": "output_tokens_per_s"}  # fmt: skip


def run_points(path: Path) -> list[dict[str, str]]:
    """A run file's figures as measured.csv rows (batch_size holds the concurrency of a concurrency run)."""
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        for run in csv.DictReader(fh):
            concurrent = bool(run.get("concurrency"))
            for regime, figure in (CONCURRENT_FIGURES if concurrent else STATIC_FIGURES).items():
                value = run.get(figure) or (run.get("itl_s") if figure == "tpot_s" else None)  # the CSV's alias
                if value:
                    out.append({
                        **{k: run[k] for k in ("model", "gpu", "tp", "dtype", "prompt_tokens", "completion_tokens")},
                        "batch_size": run["concurrency"] if concurrent else run["batch_size"],
                        "regime": regime, "value": value, "source": run["source"], "notes": run["notes"],
                    })  # fmt: skip
    return out


def load() -> list[dict[str, str]]:
    with MEASURED.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for path in RUN_FILES:
        rows += run_points(path)
    return rows


def predict(row: dict[str, str], method: str) -> tuple[float | None, str]:
    """(the method's estimate of the measured figure, "" or why there is none)."""
    common = dict(
        tp=int(row["tp"]),
        dtype=row["dtype"],
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        method=method,
    )
    try:
        if row["regime"] == "ttft_s":
            return llmxl.estimate(row["model"], row["gpu"], batch_size=1, **common).ttft_s, ""
        if row["regime"] == "static_tokens_per_s":
            return llmxl.estimate(
                row["model"], row["gpu"], batch_size=int(row["batch_size"]), **common
            ).tokens_per_s, ""
        if row["regime"] == "e2e_s":
            return llmxl.estimate(
                row["model"], row["gpu"], batch_size=int(row["batch_size"]), **common
            ).e2e_latency_s, ""
        if row["regime"] in CONCURRENT_FIGURES:
            b = int(row["batch_size"])  # the concurrency
            if method == "serving":  # a closed loop of B clients on one replica (means: what runs report)
                op = llmxl.operating_point(
                    row["model"], row["gpu"], b, **{k: v for k, v in common.items() if k != "method"}
                )
                figures = {"ttft_s": op.ttft_mean_s, "tpot_s": op.itl_mean_s,
                           "output_tokens_per_s": op.output_tokens_per_s}  # fmt: skip
            else:  # the roofline methods have no continuous batching: a static batch of B instead
                e = llmxl.estimate(row["model"], row["gpu"], batch_size=b, **common)
                figures = {"ttft_s": e.ttft_s, "tpot_s": e.tpot_s, "output_tokens_per_s": e.tokens_per_s}
            return figures[CONCURRENT_FIGURES[row["regime"]]], ""
        one = llmxl.estimate(row["model"], row["gpu"], batch_size=1, **common)
        top = min(int(one.max_batch_size), MAX_LOAD_CONCURRENCY)
        if method == "serving":  # continuous batching at the largest concurrency that fits
            op = llmxl.operating_point(
                row["model"], row["gpu"], top, **{k: v for k, v in common.items() if k != "method"}
            )
            return op.output_tokens_per_s / int(row["tp"]), ""
        # the roofline methods have no continuous batching: their largest static batch instead
        full = llmxl.estimate(row["model"], row["gpu"], batch_size=top, **common)
        return full.tokens_per_s / int(row["tp"]), ""
    except LlmxlError as exc:
        return None, exc.message


def calibration_measurement(row: dict[str, str]) -> Measurement:
    """A point as a calibration measurement (the semantics of ``predict``)."""
    common = dict(
        model=row["model"],
        gpu=llmxl.get_gpu(row["gpu"]).id,
        tp=int(row["tp"]),
        dtype=row["dtype"],
        prompt_tokens=int(row["prompt_tokens"]),
        completion_tokens=int(row["completion_tokens"]),
        where=f"{row['model']} {row['regime']} b{row['batch_size']} {row['prompt_tokens']}/{row['completion_tokens']}",
    )
    value = float(row["value"])
    if row["regime"] == "ttft_s":
        return Measurement(batch_size=1, metrics={"ttft_s": value}, **common)
    if row["regime"] in STATIC_FIGURES:
        figure = STATIC_FIGURES[row["regime"]]
        return Measurement(batch_size=int(row["batch_size"]), metrics={figure: value}, **common)
    if row["regime"] in CONCURRENT_FIGURES:
        figure = CONCURRENT_FIGURES[row["regime"]]
        return Measurement(concurrency=int(row["batch_size"]), metrics={figure: value}, **common)
    shape = {k: int(row[k]) for k in ("tp", "prompt_tokens", "completion_tokens")}
    one = llmxl.estimate(row["model"], row["gpu"], dtype=row["dtype"], batch_size=1, **shape)
    top = min(int(one.max_batch_size), MAX_LOAD_CONCURRENCY)
    return Measurement(concurrency=top, metrics={"output_tokens_per_s": value * int(row["tp"])}, **common)


#: (text in a point's source, the engine or stack that measured it), first match wins
ENGINES = (
    ("TensorRT-LLM", "TensorRT-LLM"),
    ("vllm", "vLLM"),
    ("nvidia.com/nim", "NVIDIA NIM"),
    ("gpt-fast", "gpt-fast"),
)


def engine_of(row: dict[str, str]) -> str:
    """The engine or stack a point was measured with, from its source."""
    source = row["source"].lower()
    return next((name for key, name in ENGINES if key.lower() in source), "other")


def source_group(row: dict[str, str]) -> str:
    """Points of one publication form a group: its site, or "github" and the repository (documents of one
    repository measured the same way, such as gpt-fast's two READMEs, are one group), and the release it names."""
    words = re.split(r"[ ,;(]+", row["source"].strip())
    where = " ".join(words[:2]) if words[0] == "github" else words[0]
    release = re.findall(r"v\d+\.\d+(?:\.\d+)?", row["source"])
    return f"{where} {release[0]}" if release else where


def group_label(group: str) -> str:
    """A source group as a reader recognises it: the document and its release or commit."""
    m = re.match(r"github:([^@]+)@([0-9a-f]{7})[0-9a-f]*:(\S+)", group)
    if m:
        return f"{m.group(1)} {m.group(3).rsplit('/', 1)[-1]} @{m.group(2)}"
    m = re.match(r"github (\S+)(?: (v[\d.]+))?$", group)
    if m:
        return f"{m.group(1)}, {m.group(2)} tables" if m.group(2) else m.group(1)
    if group.startswith("docs.nvidia.com/nim/"):
        return "NVIDIA NIM LLM benchmarking, performance.md (one model and configuration)"
    return group.rstrip(": ")
