"""llmxl's load model on held-out 2026 serving measurements (aiconfigurator's silicon sample).

    python benchmarks/heldout.py                # print the tables
    python benchmarks/heldout.py --markdown     # also write docs/validation-load.md
    python benchmarks/heldout.py --inferencex   # print only the section on InferenceX's runs (seconds)

The points are benchmarks/data/aic-silicon.csv (made by benchmarks/import_aic.py from the aiconfigurator-core
wheel; mean TTFT and TPOT of a closed loop of C clients). Each is estimated with ``llmxl.operating_point(...,
concurrency=C)`` and the catalog's default constants: nothing is fitted to these points. TTFT is compared with
``ttft_mean_s``, TPOT with ``itl_mean_s`` (the mean step), under the row's engine profile and under the default
profile (``engine=None``). One array call per configuration (model, GPU, tp, dtype, engine, prompt and
completion lengths) evaluates all its concurrencies, so the run takes seconds.

Beside llmxl's, aiconfigurator's own predictions of the same points, if benchmarks/data/aic-predictions.csv is
there (aiconfigurator 0.12.0 run once, offline, outside this repository; this script only reads the file).

The document's last section holds a second held-out set, InferenceX's DeepSeek-R1 runs on AMD and NVIDIA GPUs
(benchmarks/data/inferencex.csv), predicted under InferenceX's protocol by benchmarks/inferencex.py.
"""

from __future__ import annotations

import argparse
import csv
import re
import signal
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))

import inferencex  # noqa: E402
import loadfit  # noqa: E402

import llmxl  # noqa: E402
from llmxl import LlmxlError  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "aic-silicon.csv"
SKIPPED = ROOT / "benchmarks" / "data" / "aic-silicon-skipped.csv"
AIC = ROOT / "benchmarks" / "data" / "aic-predictions.csv"
DOC = ROOT / "docs" / "validation-load.md"
FAMILY = {"h100-sxm-80gb": "Hopper", "h200-sxm-141gb": "Hopper", "b200": "Blackwell", "b300": "Blackwell",
          "gb200": "Blackwell"}  # fmt: skip
KEY = ("model", "gpu", "tp", "dtype", "engine", "prompt_tokens", "completion_tokens")
PROFILES = {"own": "row's engine, cross-validated", "default": "default", "sim": "simulator",
            "aic": "aiconfigurator"}  # fmt: skip
#: The llmxl estimate compared with aiconfigurator's on the rows both estimate
LLMXL = "own"
#: Requests a simulated run sends per client (vllm bench serve's --num-prompts over --max-concurrency), and at least
SIM_REQUESTS_PER_CLIENT, SIM_MIN_REQUESTS = loadfit.ROUNDS, 20
#: Requests per client of a run in the sample (its benchmark protocol, see benchmarks/loadfit.py)
ROUNDS = loadfit.ROUNDS
#: Seconds a simulated run may take; a few SGLang runs do not finish in minutes (counted among the refusals)
SIM_TIME_LIMIT_S = 5


class _TooLong(Exception):
    pass


def _too_long(signum: int, frame: object) -> None:
    raise _TooLong


def simulated(model: str, gpu: str, tp: str, dtype: str, engine: str, s: str, n: str, c: int) -> tuple[object, str]:
    """(mean TTFT and TPOT of the simulator's closed loop of c clients, "") or (None, why there are none)."""
    previous = signal.signal(signal.SIGALRM, _too_long)
    signal.alarm(SIM_TIME_LIMIT_S)
    try:
        sim = llmxl.simulate(model, gpu, prompt_tokens=int(s), completion_tokens=int(n), max_concurrency=c,
                             num_requests=max(SIM_MIN_REQUESTS, SIM_REQUESTS_PER_CLIENT * c), engine=engine,
                             tp=int(tp), dtype=dtype)  # fmt: skip
        return (float(sim.ttft_s), float(sim.tpot_s)), ""
    except LlmxlError as exc:
        return None, reason(exc)
    except _TooLong:
        return None, f"the simulation did not finish within {SIM_TIME_LIMIT_S} s"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def band(c: int) -> str:
    return "1" if c == 1 else "2–16" if c <= 16 else "17–128" if c <= 128 else ">128"


def load() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def reason(exc: LlmxlError) -> str:
    """A refusal's message with its numbers and names of sizes generalised, so that like refusals group."""
    text = exc.message.split(";")[0]
    text = re.sub(r"tp=\d+", "tp=N", text)
    return re.sub(r"(?<![\w.-])\d[\d,.]*(?![\w-])", "N", text)


def aic_predictions() -> dict[str, dict[str, str]]:
    """aiconfigurator's predictions by aic_id (status, ttft_s, tpot_s, reason), or none if the file is absent."""
    if not AIC.exists():
        return {}
    with AIC.open(encoding="utf-8", newline="") as fh:
        return {r["aic_id"]: r for r in csv.DictReader(fh)}


def aic_reason(text: str) -> str:
    """aiconfigurator's refusal with its numbers generalised, so that like refusals group."""
    text = re.sub(r"\{[^}]*\}", "{…}", text)
    return re.sub(r"(?<![\w.-])\d[\d,.]*(?![\w-])", "N", text)[:160]


def evaluate(rows: list[dict[str, str]]) -> list[dict[str, object]]:
    """Each row with llmxl's mean TTFT and TPOT under the row's engine and the default one (None if refused)."""
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[tuple(r[k] for k in KEY)].append(i)
    out: list[dict[str, object]] = [{"row": r} for r in rows]
    for key, idx in groups.items():
        model, gpu, tp, dtype, engine, s, n = key
        cs = np.array(sorted({int(rows[i]["concurrency"]) for i in idx}))
        for profile, eng in (("own", engine), ("default", None)):
            for c in cs:  # the run's request count is the sample's protocol: ROUNDS requests per client
                try:
                    op = llmxl.operating_point(model, gpu, int(c), tp=int(tp), dtype=dtype, engine=eng,
                                               prompt_tokens=int(s), completion_tokens=int(n),
                                               num_requests=ROUNDS * int(c))  # fmt: skip
                    got, why = (float(op.ttft_mean_s), float(op.itl_mean_s)), ""
                except LlmxlError as exc:
                    got, why = None, reason(exc)
                for i in idx:
                    if int(rows[i]["concurrency"]) == int(c):
                        out[i][profile] = got
                        out[i][f"{profile}_why"] = why
        for c in cs:  # the step-by-step simulator: a closed loop of c clients of equal lengths, as benchmarked
            got, why = simulated(model, gpu, tp, dtype, engine, s, n, int(c))
            for i in idx:
                if int(rows[i]["concurrency"]) == int(c):
                    out[i]["sim"] = got
                    out[i]["sim_why"] = why
    cv = loadfit.cross_validate(rows)  # the row's engine, κP fitted to the other models' runs
    dv = loadfit.cross_validate_decode(rows)  # and κD fitted to the other models' of the row's kind
    for i, e in enumerate(out):
        if e["own"] is not None and np.isfinite(cv["ttft"][i]) and np.isfinite(dv["itl"][i]):
            e["own"] = (float(cv["ttft"][i]), float(dv["itl"][i]))
    aic = aic_predictions()
    for e in out:
        r = e["row"]
        p = aic.get(r["aic_id"])
        if p is not None and p["status"] == "ok":
            e["aic"] = (float(p["ttft_s"]), float(p["tpot_s"]))
        else:
            e["aic"] = None
            e["aic_why"] = "no prediction in the file" if p is None else f"{p['status']}: {aic_reason(p['reason'])}"
        e["family"] = FAMILY.get(r["gpu"], "other")
        e["moe"] = "MoE" if llmxl.get_model(r["model"]).moe is not None else "dense"
        e["band"] = band(int(r["concurrency"]))
        for profile in PROFILES:
            p = e[profile]
            if p is not None:
                e[f"{profile}_ttft"] = p[0] / float(r["ttft_s"]) - 1
                e[f"{profile}_tpot"] = p[1] / float(r["tpot_s"]) - 1
    return out


def stats(errors: list[float]) -> str:
    """median |e| / p90 |e| (median signed e)"""
    if not errors:
        return "–"
    a = np.abs(np.array(errors))
    return f"{100 * np.median(a):.0f} / {100 * np.quantile(a, 0.9):.0f} ({100 * statistics.median(errors):+.0f})"


GROUPINGS = {
    "overall": lambda e: "all",
    "engine": lambda e: e["row"]["engine"],
    "GPU family": lambda e: e["family"],
    "dense / MoE": lambda e: e["moe"],
    "concurrency": lambda e: e["band"],
    "model": lambda e: e["row"]["model"],
    "engine × concurrency": lambda e: f"{e['row']['engine']}, C {e['band']}",
    "engine × prompt/completion": lambda e: (
        f"{e['row']['engine']}, {e['row']['prompt_tokens']}/{e['row']['completion_tokens']}"
    ),
}
BAND_ORDER = {"1": 0, "2–16": 1, "17–128": 2, ">128": 3}


def _sort_key(label: str) -> tuple[object, ...]:
    m = re.search(r"C (\S+)$", label)
    if m:
        return (label[: m.start()], BAND_ORDER.get(m.group(1), 9))
    if label in BAND_ORDER:
        return ("", BAND_ORDER[label])
    return (label, 0)


def median_abs(errors: list[float]) -> str:
    return f"{100 * np.median(np.abs(np.array(errors))):.0f}" if errors else "–"


def shared(es: list[dict[str, object]]) -> str:
    """On the rows both llmxl (row's engine) and aiconfigurator estimate: their count and median |e|, llmxl vs aic."""
    both = [e for e in es if f"{LLMXL}_ttft" in e and "aic_ttft" in e]
    if not both:
        return "0"
    cells = [
        f"{fig} {median_abs([e[f'{LLMXL}_{f}'] for e in both])} vs {median_abs([e[f'aic_{f}'] for e in both])}"
        for fig, f in (("TTFT", "ttft"), ("TPOT", "tpot"))
    ]
    return f"{len(both)}: " + ", ".join(cells)


def table(res: list[dict[str, object]], grouping: str) -> list[str]:
    key = GROUPINGS[grouping]
    groups: dict[str, list[dict[str, object]]] = defaultdict(list)
    for e in res:
        groups[key(e)].append(e)
    head = [f"{fig}, {label}" for label in PROFILES.values() for fig in ("TTFT", "TPOT")]
    head.append("both estimate: rows, median |e| llmxl vs aiconfigurator")
    lines = [f"| {grouping} | rows | estimated | " + " | ".join(head) + " |", "|---" * (3 + len(head)) + "|"]
    if grouping == "concurrency":
        for label in BAND_ORDER:
            groups.setdefault(label, [])
    for label in sorted(groups, key=_sort_key):
        es = groups[label]
        cells = [label, str(len(es)), str(sum("own_ttft" in e for e in es))]
        for profile in PROFILES:
            for fig in ("ttft", "tpot"):
                cells.append(stats([e[f"{profile}_{fig}"] for e in es if f"{profile}_{fig}" in e]))
        cells.append(shared(es))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"On the rows both llmxl (row's engine) and aiconfigurator estimate, median |e| in %: {shared(res)}."]
    return lines


def refusals(res: list[dict[str, object]]) -> list[str]:
    lines = ["| profile | reason llmxl gives | rows |", "|---|---|---|"]
    for profile in ("own", "default", "sim"):
        why = Counter(e[f"{profile}_why"] for e in res if e.get(profile) is None)
        for text, count in sorted(why.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {profile} | {text} | {count} |")
    return lines


def aic_refusals(res: list[dict[str, object]]) -> list[str]:
    lines = ["| why aiconfigurator has no prediction | rows |", "|---|---|"]
    why = Counter(e["aic_why"] for e in res if e.get("aic") is None)
    for text, count in sorted(why.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {text.replace('|', '/')} | {count} |")
    return lines


def skipped() -> list[str]:
    lines = ["| reason | rows |", "|---|---|"]
    with SKIPPED.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            lines.append(f"| {r['reason']} | {r['rows']} |")
    return lines


def aic_intro(res: list[dict[str, object]]) -> list[str]:
    n = sum(e["aic"] is not None for e in res)
    if not n:
        return [
            "aiconfigurator's own predictions are not in the wheel's file, and",
            "`benchmarks/data/aic-predictions.csv` is absent, so there is no column of aiconfigurator's error.",
            "",
        ]
    run = sum(not str(e.get("aic_why", "")).startswith(("not run", "no prediction")) for e in res)
    both = sum(e["aic"] is not None and f"{LLMXL}_ttft" in e for e in res)
    ok = [p for p in aic_predictions().values() if p["status"] == "ok"]
    hybrid = sum(p["database_mode"] == "HYBRID" for p in ok)
    inferred = sum("gemm_quant_mode" not in p["call"] for p in ok)
    return [
        "The columns *aiconfigurator* are NVIDIA's aiconfigurator 0.12.0 itself on the same points, from",
        "[`benchmarks/data/aic-predictions.csv`](../benchmarks/data/aic-predictions.csv): run once, offline, outside",
        "this repository (llmxl neither runs nor imports it), through its Python API `cli_estimate` in aggregated",
        "(`agg`) mode with its SILICON perf database at its default (current) version for each system and backend,",
        "with the model path, system, backend, tp, attention DP, MoE tp/ep, GEMM and MoE quantisation, ISL, OSL",
        "and batch size (= concurrency) that the silicon sample records for the row; the exact call is in the file.",
        "It is NVIDIA's own tool on NVIDIA's own measurements, whose perf database was collected on the same",
        "systems, so this is not a held-out test for it. The last column compares the two on the rows both estimate",
        "(llmxl under the row's engine profile), the only like-for-like comparison.",
        f"aiconfigurator was run on {run:,} of the {len(res):,} points"
        + (" (the rest not reached in the time of the run)" if run < len(res) else "")
        + f", predicts {n:,} (the others it refuses, reasons at the end); both estimate {both:,}. Where its SILICON",
        "database lacks data for the row's settings it was asked again with its HYBRID database (silicon data where",
        "collected, its own empirical or speed-of-light estimate elsewhere), and failing that on SILICON with the",
        f"quantisation it infers from the checkpoint: {hybrid:,} of its predictions are HYBRID, {inferred:,} with",
        "inferred quantisation (the last attempt, or the sample names none). Four model paths of the sample whose",
        "config.json the wheel does not bundle were given as the bundled config of the same architecture",
        "(Llama-3.1-70B as Meta-Llama-3.1-70B, Llama-3.1-8B-Instruct and its FP8 checkpoint as Meta-Llama-3.1-8B,",
        "Qwen3-32B-NVFP4 as Qwen3-32B; quantisation passed explicitly).",
        "",
    ]


def markdown(res: list[dict[str, object]]) -> str:
    rows = [e["row"] for e in res]
    n_cfg = len({tuple(r[k] for k in KEY) for r in rows})
    est = sum("own_ttft" in e for e in res)
    lines = [
        "# Validation of the load model: held-out 2026 serving measurements",
        "",
        "Generated by `python benchmarks/heldout.py --markdown` from",
        "[`benchmarks/data/aic-silicon.csv`](../benchmarks/data/aic-silicon.csv) (made by",
        "[`benchmarks/import_aic.py`](../benchmarks/import_aic.py)); do not edit by hand.",
        "",
        f"The points: {len(rows):,} measured closed-loop serving runs ({n_cfg} configurations of model, GPU, tp,",
        "dtype, engine and request shape) from `aiconfigurator_core/systems/silicon_sample.csv` in the",
        "aiconfigurator-core 0.12.0 wheel (NVIDIA, Apache-2.0), measured in 2026 with TensorRT-LLM, vLLM and SGLang",
        "on H100, H200, B200, B300 and GB200. Their TTFT and TPOT are means over a run's requests. Only aggregated",
        "serving at plain tensor parallelism of catalog models and GPUs is kept (what is dropped, below).",
        "",
        "Each point is estimated with `llmxl.operating_point(model, gpu, C, tp, dtype, prompt_tokens,",
        f"completion_tokens, engine, num_requests={ROUNDS} C)`: the run's request count is the sample's protocol",
        f"(aiconfigurator's benchmark template sends {ROUNDS} C requests once a warm-up has drained, so a run starts",
        "with all C clients at once; the first wave's TTFT counts in the mean). TTFT against `ttft_mean_s`, TPOT",
        "against `itl_mean_s`. Two parts of the load model are fitted to these points (`python",
        "benchmarks/fit_load.py`): κP, what prompts add to a step (llmxl/data/methods.toml",
        "[serving.prefill_scale], three numbers: a dense factor for Hopper and for Blackwell, a mixture-of-experts",
        "factor on top), fitted to TTFT; and κD, the bandwidth and fixed cost a step reaches ([serving.decode_scale],",
        "two factors for dense models and two for mixtures of experts), fitted to TPOT. The columns *row's engine,",
        "cross-validated* are therefore predictions with both fitted to the other models' points (leave one model",
        "out, nine folds; TTFT with κP so fitted and κD the catalog's, TPOT with κD so fitted and κP the",
        "catalog's: across κD's grid TTFT moves by about one point), under the row's engine profile (vLLM 0.11.0,",
        "SGLang 0.5.4, TensorRT-LLM 1.0, whatever release measured it); everything else comes from the catalog's",
        "constants, fitted to other data (docs/validation.md). The columns *default* are the catalog's κP and κD",
        "(fitted to all points) under the default profile (`engine=None`, vLLM).",
        "Beside them, `llmxl.simulate` (the step-by-step simulator, not the closed form: a closed loop of C",
        f"clients of equal lengths, {SIM_REQUESTS_PER_CLIENT} C requests and at least {SIM_MIN_REQUESTS}, under"
        " the row's engine and the catalog's κP and κD; mean TTFT and TPOT), to",
        "tell what the closed form leaves out from what the step model gets wrong.",
        "Error e = estimated / measured − 1. Each cell: median |e| / 90th percentile |e| (median signed e), in %;",
        "a negative signed error means llmxl estimates too low.",
        "",
        f"llmxl estimates {est:,} of the {len(rows):,} points; the others it refuses (reasons at the end).",
        "",
        *aic_intro(res),
    ]
    for grouping in GROUPINGS:
        lines += [f"## By {grouping}" if grouping != "overall" else "## Overall", "", *table(res, grouping), ""]
    lines += ["## Points llmxl refuses", "", *refusals(res), ""]
    if any(e["aic"] is not None for e in res):
        lines += ["## Points without an aiconfigurator prediction", "", *aic_refusals(res), ""]
    lines += ["## Rows of the silicon sample not imported", "", *skipped(), ""]
    lines += inferencex.markdown()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--markdown", action="store_true", help=f"also write {DOC.relative_to(ROOT)}")
    ap.add_argument("--inferencex", action="store_true", help="print only the section on InferenceX's runs")
    args = ap.parse_args(argv)
    if args.inferencex:
        print("\n".join(inferencex.markdown()))
        return 0
    res = evaluate(load())
    text = markdown(res)
    print(text)
    if args.markdown:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
