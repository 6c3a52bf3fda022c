"""aiconfigurator's measured serving points as held-out data for llmxl's load model: writes data/aic-silicon.csv.

Where the data come from: the wheel aiconfigurator-core 0.12.0 on PyPI (NVIDIA, Apache-2.0) ships
``aiconfigurator_core/systems/silicon_sample.csv``: 5,221 serving benchmarks of 2026 (TTFT and TPOT of a closed
loop at a concurrency; 15 models; H100, H200, B200, B300, GB200, GB300; TensorRT-LLM, vLLM and SGLang;
aggregated and disaggregated). Its ``silicon_ttft_ms`` and ``silicon_tpot_ms`` are means over the requests of a
run (aiconfigurator's collector sets them from the benchmark's ``mean_ttft`` and ``mean_tpot``). The wheel ships
no predictions of its own for these rows (aiconfigurator computes them by running its estimator, which llmxl does
not run), so there is nothing of aiconfigurator's to compare with here.

Regenerate:

    pip download aiconfigurator-core==0.12.0 --no-deps -d /tmp/aic
    unzip -o /tmp/aic/aiconfigurator_core-0.12.0-*.whl 'aiconfigurator_core/systems/silicon_sample.csv' -d /tmp/aic
    python benchmarks/import_aic.py /tmp/aic/aiconfigurator_core/systems/silicon_sample.csv

Only the rows llmxl can describe are kept: aggregated serving (one engine does prompts and decoding) of a
model and GPU in llmxl's catalog, at plain tensor parallelism (pp = 1, no attention data parallelism, and for
a MoE model its experts split by the same tp with no expert parallelism), at a precision with an llmxl dtype.
A run the file holds twice (in two of its dumps, under two ids, with the same figures) is kept once. What is
dropped is counted by reason in data/aic-silicon-skipped.csv. Mapping:

- model: ``llmxl.get_model`` of the Hugging Face path, else of its name, else of its name without a trailing
  ``-FP8``/``-NVFP4`` (and ``-Instruct`` before it: NVIDIA's quantised checkpoints of a catalog model, whose
  precision the dtype says);
- GPU: ``llmxl.get_gpu`` of the system id, else of it without ``_sxm`` (GB300 is not in the catalog);
- dtype: fp8 (fp8 or fp8_block GEMMs) -> w8a8e16-fp8; fp4 (nvfp4) -> nvfp4, except gpt-oss, whose MXFP4
  checkpoint is mxfp4; int4 (int4 weight-only, Kimi-K2.5 as shipped) -> w4a16e16; bf16 or none -> w16a16e16;
- engine: trtllm -> tensorrt-llm, vllm, sglang; engine_version is the file's backend_version;
- concurrency: the run's ``silicon_concurrency`` (its source field), else its batch_size (12 rows);
- ttft_s, tpot_s: the file's milliseconds / 1000 (means).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import llmxl  # noqa: E402
from llmxl import LlmxlError  # noqa: E402

DATA = ROOT / "benchmarks" / "data"
OUT = DATA / "aic-silicon.csv"
SKIPPED = DATA / "aic-silicon-skipped.csv"
WHEEL = "aiconfigurator-core 0.12.0"
SOURCE = f"{WHEEL} (PyPI wheel), aiconfigurator_core/systems/silicon_sample.csv, Apache-2.0"
FIELDS = ("model", "gpu", "tp", "dtype", "engine", "engine_version", "prompt_tokens", "completion_tokens",
          "concurrency", "ttft_s", "tpot_s", "aic_id", "source")  # fmt: skip
ENGINES = {"trtllm": "tensorrt-llm", "vllm": "vllm", "sglang": "sglang"}
DTYPES = {"fp8": "w8a8e16-fp8", "fp4": "nvfp4", "int4": "w4a16e16", "bf16": "w16a16e16", "": "w16a16e16"}


def model_id(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1]
    base = re.sub(r"(-Instruct)?-(NV)?FP[48]$", "", name, flags=re.I)
    for candidate in (path, name, base):
        try:
            return llmxl.get_model(candidate).id
        except LlmxlError:
            continue
    return None


def gpu_id(system: str) -> str | None:
    for candidate in (system, system.removesuffix("_sxm")):
        try:
            return llmxl.get_gpu(candidate).id
        except LlmxlError:
            continue
    return None


def layout(row: dict[str, str], moe: bool) -> str:
    """The empty string for plain tp (tp × pp), else why the row's parallel layout is not one llmxl describes."""
    if row["pp_size"] not in ("1", ""):
        return "pipeline parallel (pp > 1)"
    adp = row["attention_dp_size"]
    if adp == "0":
        return "layout unknown (attention_dp_size 0)"
    if adp not in ("1", ""):
        return "attention data parallel (DP attention)"
    if moe:
        if row["moe_ep_size"] not in ("1", ""):
            return "MoE expert parallel (EP)"
        if row["moe_tp_size"] != row["tp_size"]:
            return "MoE experts split other than by tp"
    return ""


def convert(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], Counter[str]]:
    kept, skipped = [], Counter()
    for row in rows:
        if row["mode"] != "agg":
            skipped["disaggregated serving"] += 1
            continue
        model = model_id(row["model_path"])
        if model is None:
            skipped[f"model not in llmxl's catalog ({row['model_path']})"] += 1
            continue
        gpu = gpu_id(row["system"])
        if gpu is None:
            skipped[f"GPU not in llmxl's catalog ({row['system']})"] += 1
            continue
        if row["precision"] not in DTYPES:
            skipped[f"precision without an llmxl dtype ({row['precision']})"] += 1
            continue
        why = layout(row, llmxl.get_model(model).moe is not None)
        if why:
            skipped[why] += 1
            continue
        dtype = "mxfp4" if model.startswith("gpt-oss") and row["precision"] == "fp4" else DTYPES[row["precision"]]
        m = re.search(r"silicon_concurrency=(\d+)", row["silicon_data_source"])
        kept.append({
            "model": model, "gpu": gpu, "tp": row["tp_size"], "dtype": dtype, "engine": ENGINES[row["backend"]],
            "engine_version": row["backend_version"], "prompt_tokens": row["isl"], "completion_tokens": row["osl"],
            "concurrency": m.group(1) if m else row["batch_size"],
            "ttft_s": f"{float(row['silicon_ttft_ms']) / 1000:.6g}",
            "tpot_s": f"{float(row['silicon_tpot_ms']) / 1000:.6g}",
            "aic_id": row["id"], "source": SOURCE,
        })  # fmt: skip
    same = ("model", "gpu", "tp", "dtype", "engine", "prompt_tokens", "completion_tokens", "concurrency", "ttft_s",
            "tpot_s")  # fmt: skip
    unique: dict[tuple[str, ...], dict[str, str]] = {}
    for r in kept:  # one run in two of the file's dumps: keep one, the one that names the engine's release
        k = tuple(r[c] for c in same)
        if k in unique:
            skipped["the same run again (another dump of the file: same configuration and figures)"] += 1
            if unique[k]["engine_version"] or not r["engine_version"]:
                continue
        unique[k] = r
    kept = list(unique.values())
    order = ("model", "gpu", "engine", "dtype", "tp", "prompt_tokens", "completion_tokens", "concurrency")
    kept.sort(key=lambda r: tuple(int(r[k]) if r[k].isdigit() else r[k] for k in order))
    return kept, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("silicon_sample", type=Path, help="path to aiconfigurator_core/systems/silicon_sample.csv")
    args = ap.parse_args(argv)
    with args.silicon_sample.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kept, skipped = convert(rows)
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(kept)
    with SKIPPED.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("reason", "rows", "source"))
        for reason, count in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            w.writerow((reason, count, SOURCE))
    print(f"{len(rows)} rows read, {len(kept)} kept -> {OUT.relative_to(ROOT)} ({OUT.stat().st_size:,} bytes)")
    for reason, count in sorted(skipped.items(), key=lambda kv: -kv[1]):
        print(f"  skipped {count:5d}  {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
