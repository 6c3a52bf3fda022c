"""InferenceX's public runs as held-out points of the load model: predicting them, the error tables, an AMD factor.

The points are benchmarks/data/inferencex.csv (made by benchmarks/import_inferencex.py): DeepSeek-R1 served by
SGLang, TensorRT-LLM and AMD's ATOM on MI300X, MI325X, MI355X, H200, B200, B300 and GB200, benchmarked by
SemiAnalysis' InferenceX. Each aggregated run (one engine does prompts and decoding) is predicted under
InferenceX's own protocol (SemiAnalysisAI/InferenceX @843c6254, read 2026-12-07):

* the client is InferenceX's copy of vLLM's serving benchmark, ``utils/bench_serving/benchmark_serving.py``,
  called by ``run_benchmark_serving`` in ``benchmarks/benchmark_lib.sh`` with ``--dataset-name random
  --request-rate inf --ignore-eos --max-concurrency CONC --num-warmups 2*CONC``: a closed loop of CONC clients;
* ``--num-prompts`` is 10 × CONC in every single-node DeepSeek-R1 script
  (``benchmarks/single_node/fixed_seq_len/dsr1_*.sh``), so a run is 10 requests per client (``PROMPTS_PER_CLIENT``);
* ``--random-range-ratio`` is 0.8 (``RANDOM_RANGE_RATIO: 0.8`` in ``.github/workflows/benchmark-tmpl.yml``):
  ``sample_random_requests`` draws each prompt's and each completion's length uniformly from the integers
  ``int(0.8 L)`` to ``L``, so their means are ``(int(0.8 L) + L) / 2`` (``mean_length``), what llmxl is given;
* the warm-up (2 × CONC copies of one prompt, added 2026-01-21 in commit d053ae24; earlier runs have none) is
  awaited to the end before the measured requests start, so the measured run begins with all CONC prompts at
  once: its first wave counts in the mean TTFT, as ``operating_point(num_requests=10 C)`` counts it.

Each point: ``llmxl.operating_point(model, gpu, C, tp, dp, ep, dtype, prompt_tokens, completion_tokens, engine,
num_requests=10 C, speculative)``, its ``ttft_mean_s`` against the run's mean TTFT, ``itl_mean_s`` against its mean
TPOT, and ``output_tokens_per_s (s + n) / n / GPUs`` against ``tput_per_gpu`` (InferenceX's total, input plus output,
tokens/s per GPU; utils/process_result.py). Nothing is fitted to them. ATOM has no llmxl profile: its runs are
estimated under the default profile and reported apart. ``amd_factors`` fits, on the AMD runs only, what a GPU
family entry for AMD Instinct could hold (a factor on the serving HBM efficiency, and a prefill scale κP) and
cross-validates it by leaving one GPU out (the runs hold one model, so by model is not possible): a proposal,
not written anywhere.
Imported by the scripts of benchmarks/ (which put this directory on sys.path); imports none of them.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import re
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

import llmxl
from llmxl import LlmxlError, catalog, operating

DATA = Path(__file__).resolve().parent / "data"
POINTS = DATA / "inferencex.csv"
SKIPPED = DATA / "inferencex-skipped.csv"
NAMES = DATA / "inferencex_names.toml"
#: InferenceX's protocol (see the module's docstring for where each is set)
RANGE_RATIO = 0.8
PROMPTS_PER_CLIENT = 10
KEY = ("model", "gpu", "dtype", "engine", "tp", "dp", "ep", "speculative", "isl", "osl")
FIGURES = {"ttft": ("mean_ttft", "mean TTFT"), "tpot": ("mean_tpot", "mean TPOT"),
           "tput": ("tput_per_gpu", "tokens/s per GPU")}  # fmt: skip
#: The grid of the AMD proposal: κP (the MoE model's, all of it: the runs hold one model) and the factor on the
#: catalog's serving HBM efficiency of the GPU
KP_GRID = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
HBM_GRID = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0, 1.1)


def load() -> list[dict[str, str]]:
    with POINTS.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def vendors() -> dict[str, str]:
    with NAMES.open("rb") as fh:
        return tomllib.load(fh)["vendors"]


def aggregated(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The runs llmxl's load model describes: one engine does prompts and decoding."""
    return [r for r in rows if r["disagg"] == "false"]


def mean_length(tokens: int) -> int:
    """The mean of InferenceX's random lengths for a nominal L: integers uniform in [int(0.8 L), L]."""
    return round((int(tokens * RANGE_RATIO) + tokens) / 2)


def predict(rows: list[dict[str, str]], prefill_scale: float | None = None, hbm: float = 1.0,
            ) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    """llmxl's (mean TTFT, mean TPOT, tokens/s per GPU) of each row (nan and the reason where llmxl refuses).

    ``prefill_scale`` replaces the catalog's κP; ``hbm`` multiplies the catalog's serving HBM efficiency of the
    row's GPU (the AMD proposal); with neither, this is ``llmxl.operating_point`` at the catalog's values.
    """
    out = np.full((len(rows), 3), np.nan)
    why = [""] * len(rows)
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[tuple(r[k] for k in KEY)].append(i)
    for key, idx in groups.items():
        model, gpu, dtype, engine, tp, dp, ep, spec, isl, osl = key
        s, n = mean_length(int(isl)), mean_length(int(osl))
        C = np.array([float(rows[i]["conc"]) for i in idx])
        he = None if hbm == 1.0 else min(1.0, hbm * catalog.serving_constants(llmxl.get_gpu(gpu)).hbm_efficiency)
        try:
            c = operating.configured(model, gpu, int(tp), 1, dtype, s, n, None, he, engine or None, dp=int(dp),
                                     ep=int(ep), speculative=spec or None, capacity=False)  # fmt: skip
        except LlmxlError as exc:
            for i in idx:
                why[i] = reason(exc)
            continue
        if prefill_scale is not None:
            rates = c.replica.rates._replace(prefill_scale=prefill_scale)
            c = dataclasses.replace(c, replica=dataclasses.replace(c.replica, rates=rates))
        load_ = c.replica.closed_loop(s, n, C, c.fit, 90.0)
        load_ = operating._with_first_wave(c, load_, C, np.full_like(C, float(PROMPTS_PER_CLIENT)))
        gpus = int(tp) * int(dp)
        out[idx, 0] = np.asarray(load_.ttft_s, dtype=np.float64)
        out[idx, 1] = np.asarray(load_.itl_s, dtype=np.float64)
        out[idx, 2] = np.asarray(load_.requests_per_s, dtype=np.float64) * (s + n) / gpus
    return out, why


def measured(rows: list[dict[str, str]]) -> np.ndarray:
    return np.array([[float(r[FIGURES[f][0]]) for f in FIGURES] for r in rows])


def reason(exc: LlmxlError) -> str:
    """A refusal's message with its numbers generalised, so that like refusals group."""
    text = exc.message.split(";")[0]
    text = re.sub(r"tp=\d+", "tp=N", text)
    return re.sub(r"(?<![\w.-])\d[\d,.]*(?![\w-])", "N", text)


def band(c: int) -> str:
    return "1" if c == 1 else "2–16" if c <= 16 else "17–128" if c <= 128 else ">128"


def labels(r: dict[str, str], vendor: dict[str, str]) -> dict[str, str]:
    engine = {"sglang": "SGLang", "trt": "TensorRT-LLM", "atom": "ATOM (default profile)"}.get(
        r["framework"], r["framework"]
    )
    return {
        "overall": "all",
        "vendor": vendor[r["gpu"]],
        "GPU": r["gpu"],
        "engine": engine,
        "speculative decoding": r["speculative"] or "none",
        "vendor × engine": f"{vendor[r['gpu']]}, {engine}",
        "GPU × engine × speculative decoding": f"{r['gpu']}, {engine}, {r['speculative'] or 'none'}",
        "dense / MoE": "MoE" if llmxl.get_model(r["model"]).moe is not None else "dense",
        "concurrency": band(int(r["conc"])),
        "prompt / completion": f"{r['isl']}/{r['osl']}",
    }


def stats(errors: np.ndarray) -> str:
    """median |e| / p90 |e| (median signed e), in %"""
    e = errors[np.isfinite(errors)]
    if not e.size:
        return "–"
    a = np.abs(e)
    return f"{100 * np.median(a):.0f} / {100 * np.quantile(a, 0.9):.0f} ({100 * np.median(e):+.0f})"


def errors(rows: list[dict[str, str]], pred: np.ndarray) -> np.ndarray:
    return pred / measured(rows) - 1


def table(rows: list[dict[str, str]], err: np.ndarray, grouping: str) -> list[str]:
    vendor = vendors()
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[labels(r, vendor)[grouping]].append(i)
    head = [f"{name}: median / p90 (signed)" for _, name in FIGURES.values()]
    lines = [f"| {grouping} | runs | estimated | " + " | ".join(head) + " |", "|---" * (3 + len(head)) + "|"]
    order = {"1": 0, "2–16": 1, "17–128": 2, ">128": 3}
    for label in sorted(groups, key=lambda x: (order.get(x, 9), x)):
        idx = groups[label]
        cells = [label, str(len(idx)), str(int(np.isfinite(err[idx, 0]).sum()))]
        cells += [stats(err[idx, j]) for j in range(len(FIGURES))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def amd_factors(rows: list[dict[str, str]], with_kp: bool) -> dict[str, object]:
    """An HBM-efficiency factor for AMD Instinct (and, ``with_kp``, a κP) fitted to the AMD SGLang runs.

    Fitted to the AMD runs under SGLang without speculative decoding (the only AMD engine llmxl has a profile
    for), on the grid ``HBM_GRID`` (× ``KP_GRID`` with κP, else the catalog's κP): the grid point of least
    (median |log e| of mean TTFT) + (median |log e| of mean TPOT). Each AMD GPU's runs are predicted by the fit
    to the other AMD GPUs' runs (leave one GPU out). Returns the AMD rows, which were fitted, the fit, each fold's
    pick and the predictions of every AMD row: now, cross-validated, and fitted to all.
    """
    vendor = vendors()
    amd = [r for r in aggregated(rows) if vendor[r["gpu"]] == "AMD"]
    fit_on = np.array([r["engine"] == "sglang" and not r["speculative"] for r in amd])
    gpu = np.array([r["gpu"] for r in amd])
    meas = measured(amd)
    combos = list(itertools.product(KP_GRID if with_kp else (None,), HBM_GRID))
    pred = {(k, e): predict(amd, prefill_scale=k, hbm=e)[0] for k, e in combos}

    def loss(P: np.ndarray, sel: np.ndarray) -> float:
        ok = sel & np.isfinite(P[:, 0])
        return float(sum(np.median(np.abs(np.log(P[ok, j] / meas[ok, j]))) for j in (0, 1)))

    best = min(combos, key=lambda c: loss(pred[c], fit_on))
    cv = np.full_like(meas, np.nan)
    folds = {}
    for g in sorted(set(gpu)):
        pick = min(combos, key=lambda c: loss(pred[c], fit_on & (gpu != g)))
        folds[g] = pick
        cv[gpu == g] = pred[pick][gpu == g]
    return {"rows": amd, "fit_on": fit_on, "best": best, "folds": folds, "before": predict(amd)[0], "cv": cv,
            "fitted": pred[best]}  # fmt: skip


def _factors(pick: tuple[float | None, float]) -> str:
    k, e = pick
    return f"HBM efficiency × {e}" + ("" if k is None else f", κP {k}")


def amd_lines(rows: list[dict[str, str]]) -> list[str]:
    """The proposal's tables: the HBM factor alone (κP as the catalog has it), then with κP fitted beside it."""
    lines = []
    for with_kp in (False, True):
        res = amd_factors(rows, with_kp)
        amd, fit_on = res["rows"], res["fit_on"]
        e0, ecv, efit = (errors(amd, res[k]) for k in ("before", "cv", "fitted"))
        title = "κP and the HBM efficiency" if with_kp else "the HBM efficiency alone (κP as in the catalog)"
        lines += [
            f"#### Fitting {title}",
            "",
            f"Fitted to the {int(fit_on.sum())} AMD SGLang runs without speculative decoding: {_factors(res['best'])}."
            " Leaving one GPU out: " + "; ".join(f"without {g}, {_factors(p)}" for g, p in res["folds"].items()) + ".",
            "",
            "| AMD runs | runs | figure | now (catalog) | proposed, one GPU left out | proposed, fitted to all |",
            "|---|---|---|---|---|---|",
        ]
        subsets = {"SGLang, no MTP (fitted)": fit_on,
                   "SGLang with MTP": np.array([r["engine"] == "sglang" and bool(r["speculative"]) for r in amd]),
                   "ATOM (default profile)": np.array([r["framework"] == "atom" for r in amd])}  # fmt: skip
        for g in sorted({r["gpu"] for r in amd}):
            subsets[f"{g}, SGLang, no MTP"] = fit_on & np.array([r["gpu"] == g for r in amd])
        for label, sel in subsets.items():
            for j, (_, name) in enumerate(FIGURES.values()):
                cells = [label, str(int(sel.sum())), name, stats(e0[sel, j]), stats(ecv[sel, j]), stats(efit[sel, j])]
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def skipped() -> list[str]:
    lines = ["| reason | runs |", "|---|---|"]
    with SKIPPED.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            lines.append(f"| {r['reason']} | {r['rows']} |")
    return lines


GROUPINGS = ("overall", "vendor", "GPU", "engine", "speculative decoding", "vendor × engine",
             "GPU × engine × speculative decoding", "dense / MoE", "concurrency", "prompt / completion")  # fmt: skip


def markdown() -> list[str]:
    """The section of docs/validation-load.md on InferenceX's runs (lines)."""
    rows = load()
    agg = aggregated(rows)
    pred, why = predict(agg)
    err = errors(agg, pred)
    dates = sorted(r["date"] for r in rows)
    n_flag = Counter(r["disagg"] for r in rows)
    lines = [
        "## InferenceX: AMD and NVIDIA, SGLang, TensorRT-LLM and ATOM (held out)",
        "",
        "Generated by `python benchmarks/heldout.py --markdown` from",
        "[`benchmarks/data/inferencex.csv`](../benchmarks/data/inferencex.csv) (made by",
        "[`benchmarks/import_inferencex.py`](../benchmarks/import_inferencex.py); the arithmetic in",
        "[`benchmarks/inferencex.py`](../benchmarks/inferencex.py)).",
        "",
        f"The points: {len(rows)} DeepSeek-R1 serving runs of SemiAnalysis' InferenceX ({dates[0]} to {dates[-1]}),",
        "from two captures of its dashboard's API in the public repository SemiAnalysisAI/InferenceX-app",
        "(`packages/app/cypress/fixtures/api/benchmarks.json` at commits cac6246e and 528c4146; the app is GPL-3.0,",
        "the benchmark SemiAnalysisAI/InferenceX Apache-2.0), each with its run's URL and date. Of them",
        f"{n_flag['false']} are aggregated serving, compared here; {n_flag['true']} are disaggregated (prefill and",
        "decode workers apart), kept in the file for when llmxl describes them. The runs hold one model, DeepSeek-R1",
        "(fp8 and fp4), so *by model* has one row and nothing can be left out by model.",
        "",
        "InferenceX's protocol, which each prediction follows: a closed loop of C clients of InferenceX's copy of",
        "vLLM's serving benchmark (random prompts, `--ignore-eos`, `--request-rate inf`), `--num-prompts` 10 C,",
        "prompt and completion lengths uniform in [0.8 L, L] (`--random-range-ratio 0.8`; llmxl is given their",
        "means, 0.9 L), a warm-up of 2 C requests awaited before the run (from 2026-01-21), so the run's first wave",
        "of C prompts at once counts in the mean TTFT: `operating_point(..., num_requests=10 C)`. The replica's",
        "layout is the run's decode workers': tp, or with attention data parallelism tp=1, dp=T; ep as run.",
        "Engines: SGLang and TensorRT-LLM under llmxl's profiles (SGLang 0.5.4, TensorRT-LLM 1.0, whatever release",
        'ran), AMD\'s ATOM under the default profile (llmxl has none for it); MTP runs with `speculative="mtp"` at',
        "llmxl's published acceptance. fp4 is nvfp4 (AMD's MXFP4 checkpoints too: the nearest llmxl dtype).",
        "The scripts' own engine flags (`--chunked-prefill-size`, `--mem-fraction-static`, ...) are not applied:",
        "they changed over the months the runs span and the captures do not record them; the profiles' are used.",
        "Nothing is fitted to these points. Each cell: median |e| / 90th percentile |e| (median signed e), in %,",
        "e = estimated / measured − 1.",
        "",
        f"llmxl estimates {int(np.isfinite(err[:, 0]).sum())} of the {len(agg)} aggregated runs.",
        "",
    ]
    for grouping in GROUPINGS:
        title = "Overall" if grouping == "overall" else f"By {grouping}"
        lines += [f"### {title}", "", *table(agg, err, grouping), ""]
    refused = Counter(w for w in why if w)
    lines += ["### Runs llmxl refuses", "", "| reason llmxl gives | runs |", "|---|---|"]
    lines += [f"| {w} | {c} |" for w, c in sorted(refused.items(), key=lambda kv: -kv[1])] or ["| none | 0 |"]
    lines += ["", "### Runs of the captures not imported", "", *skipped(), ""]
    lines += [
        "### Proposed, not applied: an AMD Instinct family factor",
        "",
        "What a GPU family entry for AMD Instinct (ROCm) in llmxl/data/methods.toml could hold, fitted to these AMD",
        "runs and cross-validated by leaving one GPU out (`python benchmarks/fit_load.py --amd`); the catalog is",
        "unchanged, so every other table here uses the catalog's values.",
        "",
        *amd_lines(rows),
    ]
    return lines
