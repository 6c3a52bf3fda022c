"""InferenceX's public serving measurements as held-out data for llmxl's load model: writes data/inferencex.csv.

Where the data come from: InferenceX (SemiAnalysis; github.com/SemiAnalysisAI/InferenceX, Apache-2.0) benchmarks
serving engines on AMD Instinct and NVIDIA GPUs every night and publishes the runs at inferencex.semianalysis.com;
its dashboard's repository (github.com/SemiAnalysisAI/InferenceX-app, GPL-3.0) captures the dashboard API's answer
for its end-to-end tests as ``packages/app/cypress/fixtures/api/benchmarks.json``: one object per run (hardware,
framework, model, precision, spec_method, disagg, the prefill and decode tp/ep/dp_attention/num_workers, GPUs,
isl, osl, conc, image, date, run_url, and the run's metrics: mean, median, p99 and std of TTFT, TPOT, ITL and
end-to-end latency in seconds, tput_per_gpu = (input + output) tokens/s per GPU, output_tput_per_gpu). The
fixture holds the latest run of each configuration of DeepSeek-R1 (model prefix dsr1) that the dashboard showed
when it was captured. Two captures are in the app's public history: commit cac6246e (2026-05-05, #318) and
528c4146 (2026-06-14, #458); both are read, and a run both hold (same configuration and run_url) is kept once.

Regenerate (the script itself reads only local files; no network):

    git clone https://github.com/SemiAnalysisAI/InferenceX-app /tmp/ixapp   # or a fork that holds the commits
    for c in cac6246e9fef70841e48e1434cbf10bb9a2802a8 528c4146b8f502fcbce8df7870a935a970cbae25; do
      git -C /tmp/ixapp show $c:packages/app/cypress/fixtures/api/benchmarks.json > /tmp/ix-$c.json; done
    python benchmarks/import_inferencex.py /tmp/ix-cac6246e*.json /tmp/ix-528c4146*.json

Names are mapped by benchmarks/data/inferencex_names.toml (InferenceX's model prefix, runner, framework and
precision -> llmxl's model, GPU, engine and dtype). Every row of a mapped model on a mapped GPU is kept, with
flags for what the load model does not yet describe: ``disagg`` (prefill and decode on separate workers),
``spec_method`` (mtp: llmxl's speculative="mtp"), an ``engine`` left empty (a framework without an llmxl
profile: AMD's ATOM). llmxl's layout of a replica is written beside InferenceX's: ``tp``, ``dp``, ``ep`` of the
decode workers as llmxl.operating_point takes them (SGLang and TensorRT-LLM with attention data parallelism run
``--tp T --dp T --enable-dp-attention``: tp=1, dp=T; ep is the run's expert-parallel size). What is dropped, and
names not in the mapping, are counted by reason in data/inferencex-skipped.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
NAMES = DATA / "inferencex_names.toml"
OUT = DATA / "inferencex.csv"
SKIPPED = DATA / "inferencex-skipped.csv"
SOURCE = ("SemiAnalysisAI/InferenceX-app packages/app/cypress/fixtures/api/benchmarks.json (GPL-3.0; "
          "measurements by SemiAnalysisAI/InferenceX, Apache-2.0)")  # fmt: skip
#: The run's fields as InferenceX names them, kept as they are
RUN = ("hardware", "framework", "ix_model", "precision", "spec_method", "disagg", "is_multinode", "prefill_tp",
       "prefill_ep", "prefill_dp_attention", "prefill_num_workers", "decode_tp", "decode_ep", "decode_dp_attention",
       "decode_num_workers", "num_prefill_gpu", "num_decode_gpu", "isl", "osl", "conc", "image")  # fmt: skip
METRICS = tuple(f"{stat}_{fig}" for fig in ("ttft", "tpot", "itl", "e2el") for stat in ("mean", "median", "p99"))
METRICS += ("tput_per_gpu", "output_tput_per_gpu")
#: llmxl's names and layout, then InferenceX's fields, the figures, and where each run comes from
FIELDS = ("model", "gpu", "dtype", "engine", "tp", "dp", "ep", "speculative", *RUN, *METRICS, "date", "run_url",
          "capture", "source")  # fmt: skip


def names(path: Path = NAMES) -> dict[str, dict[str, str]]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def layout(run: dict[str, object]) -> tuple[int, int, int]:
    """(tp, dp, ep) of a decode worker as llmxl.operating_point takes them."""
    t, e = int(run["decode_tp"]), int(run["decode_ep"])
    if run["decode_dp_attention"]:
        return 1, t, e
    return t, 1, e


def convert(runs: list[tuple[str, dict[str, object]]], table: dict[str, dict[str, str]]):
    """(kept rows, skipped reasons, names the mapping lacks) from (capture, run) pairs."""
    kept, skipped, unmapped = {}, Counter(), Counter()
    for capture, run in runs:
        ix = {"model": "models", "hardware": "hardware", "framework": "frameworks", "precision": "precisions",
              "spec_method": "spec_methods"}  # fmt: skip
        missing = [f"{field} {run[field]!r}" for field, part in ix.items() if str(run[field]) not in table[part]]
        if missing:
            for m in missing:
                unmapped[m] += 1
            skipped[f"not in benchmarks/data/inferencex_names.toml: {', '.join(missing)}"] += 1
            continue
        gpu = table["hardware"][str(run["hardware"])]
        if not gpu:
            skipped[f"GPU not in llmxl's catalog ({run['hardware']})"] += 1
            continue
        metrics = run["metrics"]
        if not all(isinstance(metrics.get(k), (int, float)) for k in ("mean_ttft", "mean_tpot", "tput_per_gpu")):
            skipped["no mean TTFT, mean TPOT or throughput per GPU"] += 1
            continue
        tp, dp, ep = layout(run)
        row = {
            "model": table["models"][str(run["model"])], "gpu": gpu,
            "dtype": table["precisions"][str(run["precision"])], "engine": table["frameworks"][str(run["framework"])],
            "tp": str(tp), "dp": str(dp), "ep": str(ep),
            "speculative": table["spec_methods"][str(run["spec_method"])],
            **{k: text(run["model"] if k == "ix_model" else run.get(k)) for k in RUN},
            **{k: text(metrics.get(k)) for k in METRICS},
            "date": text(run["date"]), "run_url": text(run["run_url"]), "capture": capture, "source": SOURCE,
        }  # fmt: skip
        key = (*(row[k] for k in RUN), row["run_url"])
        if key in kept:
            skipped["the same run in both captures (same configuration and run_url): kept once"] += 1
            continue
        kept[key] = row
    order = ("model", "gpu", "engine", "dtype", "speculative", "disagg", "tp", "dp", "ep", "isl", "osl", "conc", "date")
    rows = sorted(kept.values(), key=lambda r: tuple(int(r[k]) if r[k].isdigit() else r[k] for k in order))
    return rows, skipped, unmapped


def capture_of(path: Path) -> str:
    """The app commit a capture was taken from, as its file is named (ix-<commit>.json), else the file name."""
    stem = path.stem.removeprefix("ix-")
    return stem[:8] if all(c in "0123456789abcdef" for c in stem) and len(stem) >= 8 else path.name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("fixtures", type=Path, nargs="+", help="benchmarks.json captures of InferenceX-app (local files)")
    args = ap.parse_args(argv)
    runs = []
    for path in args.fixtures:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise SystemExit(f"{path}: expected a JSON list of runs, got {type(data).__name__}")
        runs += [(capture_of(path), r) for r in data]
    rows, skipped, unmapped = convert(runs, names())
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    with SKIPPED.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("reason", "rows", "source"))
        for reason, count in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])):
            w.writerow((reason, count, SOURCE))
    print(f"{len(runs)} runs read, {len(rows)} kept -> {OUT.relative_to(ROOT)} ({OUT.stat().st_size:,} bytes)")
    for reason, count in sorted(skipped.items(), key=lambda kv: -kv[1]):
        print(f"  skipped {count:5d}  {reason}")
    for name, count in sorted(unmapped.items()):
        print(f"  unmapped {name} ({count} runs)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
