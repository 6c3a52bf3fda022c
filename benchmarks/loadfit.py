"""Fitting κP, the load model's prefill scale, to the held-out serving runs and cross-validating it by model.

Shared by benchmarks/fit_load.py (which fits and stores it) and benchmarks/heldout.py (which publishes the
cross-validated error). The points: the TTFT of benchmarks/data/aic-silicon.csv (aiconfigurator's silicon sample
of 2026 serving benchmarks: mean TTFT of a closed loop of C clients), each estimated as
``llmxl.operating_point(..., num_requests=ROUNDS * C)`` under the row's engine, for κP = (dense factor of the
row's GPU family) × (the mixture-of-experts factor, for a MoE model) on a grid. Three numbers (Hopper dense,
Blackwell dense, MoE); the fit takes the grid point of least median |log error|; each model's points are
predicted by the fit to the other models' points.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

import llmxl
from llmxl import LlmxlError, operating
from llmxl.resolve import decode_scale

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "aic-silicon.csv"
KEY = ("model", "gpu", "tp", "dtype", "engine", "prompt_tokens", "completion_tokens")
FAMILIES = {"Hopper": ("h100-sxm-80gb", "h200-sxm-141gb"), "Blackwell": ("b200", "b300", "gb200")}
#: The grid: dense factors of Hopper and Blackwell, and the MoE factor on top
GRID = ((0.8, 1.0, 1.25, 1.5), (1.0, 1.25, 1.5, 2.0, 2.5), (1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0))
#: Requests per client of a run in the sample: aiconfigurator's benchmark template sends 20 C requests after a
#: warm-up of 2 C that AIPerf lets drain (aiconfigurator 0.12.0 generator/config/backend_templates/benchmark/
#: bench_run.sh.j2: --num-requests $((concurrency * AICONFIGURATOR_BENCH_MULTI_ROUND)), default 20)
ROUNDS = 20
#: How much better (relative median |log error|) another grid point must fit than the stored κP to replace it:
#: refitting the serving constants and κP in turn otherwise alternates between two points 0.6 % apart
KEEP = 0.01
#: κD's grid: the factors of a step's achieved bandwidth and of its fixed costs L τL + τDec
DECODE_GRID = (tuple(round(0.6 + 0.1 * i, 1) for i in range(10)), (0.0, 0.25, 0.5, 0.75, 1.0))


def load() -> list[dict[str, str]]:
    with DATA.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _sweep(rows: list[dict[str, str]], variants: list[Any], rates_of: Any) -> dict[Any, tuple[np.ndarray, np.ndarray]]:
    """Mean TTFT and ITL of every row under each variant of the load model's rates (``rates_of(configured,
    variant)`` gives them), nan where llmxl refuses the configuration."""
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[tuple(r[k] for k in KEY)].append(i)
    out = {k: (np.full(len(rows), np.nan), np.full(len(rows), np.nan)) for k in variants}
    for key, idx in groups.items():
        model, gpu, tp, dtype, engine, s, n = key
        C = np.array([float(rows[i]["concurrency"]) for i in idx])
        try:
            c = operating.configured(model, gpu, int(tp), 1, dtype, int(s), int(n), None, None, engine, capacity=False)
        except LlmxlError:
            continue
        for k in variants:
            cc = dataclasses.replace(c, replica=dataclasses.replace(c.replica, rates=rates_of(c, k)))
            load_ = cc.replica.closed_loop(cc.s, cc.n, C, cc.fit, 90.0)
            load_ = operating._with_first_wave(cc, load_, C, np.full_like(C, float(ROUNDS)))
            out[k][0][idx] = np.asarray(load_.ttft_s, dtype=np.float64)
            out[k][1][idx] = np.asarray(load_.itl_s, dtype=np.float64)
    return out


def predictions(rows: list[dict[str, str]], scales: list[float]) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Mean TTFT and ITL of every row at each κP, κD the catalog's (nan where llmxl refuses the configuration)."""
    return _sweep(rows, scales, lambda c, k: c.replica.rates._replace(prefill_scale=k))


def decode_predictions(
    rows: list[dict[str, str]], cells: list[tuple[float, float]]
) -> dict[tuple[float, float], tuple[np.ndarray, np.ndarray]]:
    """Mean TTFT and ITL of every row at each κD (bandwidth, overhead), κP the catalog's."""

    def rates_of(c: Any, cell: tuple[float, float]) -> Any:
        r, T, eng = c.replica.rates, c.replica.rates.T, c.replica.engine
        bw, _ = decode_scale(llmxl.get_gpu(c.one.gpu), llmxl.get_model(c.one.model))
        x, y = cell
        dec = y * T.decode_overhead_s if eng.decode_overhead_s is None else eng.decode_overhead_s
        pre = T.prefill_overhead_s if eng.prefill_overhead_s is None else eng.prefill_overhead_s
        return r._replace(M=r.M / bw * x, decode_overhead_s=y * T.layer_overhead_s + dec,
                          prefill_overhead_s=y * T.layer_overhead_s + pre)  # fmt: skip

    return _sweep(rows, cells, rates_of)


def cross_validate_decode(rows: list[dict[str, str]]) -> dict[str, object]:
    """κD fitted to the mean TPOT of the dense and of the mixture-of-experts models' rows apart (the cell of
    least median |log error|), and each model's rows predicted by the fit to the other models of its kind."""
    moe = np.array([llmxl.get_model(r["model"]).moe is not None for r in rows])
    model = np.array([r["model"] for r in rows])
    measured = np.array([float(r["tpot_s"]) for r in rows])
    cells = list(itertools.product(*DECODE_GRID))
    pred = decode_predictions(rows, cells)
    ok = np.isfinite(pred[cells[0]][1])

    def loss(cell: tuple[float, float], sel: np.ndarray) -> float:
        return float(np.nanmedian(np.abs(np.log(pred[cell][1][sel] / measured[sel]))))

    best = {kind: min(cells, key=lambda c: loss(c, ok & (moe == (kind == "moe")))) for kind in ("dense", "moe")}
    cv_ttft, cv_itl = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    folds = {}
    for m in sorted(set(model)):
        test = ok & (model == m)
        pick = min(cells, key=lambda c: loss(c, ok & (model != m) & (moe == moe[model == m][0])))
        folds[m] = pick
        cv_ttft[test], cv_itl[test] = pred[pick][0][test], pred[pick][1][test]
    fitted = np.where(moe, pred[best["moe"]][1], pred[best["dense"]][1])
    return {"best": best, "fitted": fitted, "ttft": cv_ttft, "itl": cv_itl, "folds": folds, "ok": ok}


def _stored_prefill_scale() -> tuple[float, float, float] | None:
    """κP as llmxl/data/methods.toml holds it: (Hopper dense, Blackwell dense, MoE)."""
    scale = llmxl.catalog.method_defaults("serving").prefill_scale
    if scale is None:
        return None
    dense = {f.name: f.dense for f in scale.families}
    return dense.get("Hopper", 1.0), dense.get("Blackwell", 1.0), scale.moe


def cross_validate(rows: list[dict[str, str]]) -> dict[str, object]:
    """The fit over all rows, and each model's rows predicted by the fit to the other models' (TTFT, ITL)."""
    moe = np.array([llmxl.get_model(r["model"]).moe is not None for r in rows])
    blackwell = np.array([r["gpu"] in FAMILIES["Blackwell"] for r in rows])
    model = np.array([r["model"] for r in rows])
    measured = np.array([float(r["ttft_s"]) for r in rows])
    combos = list(itertools.product(*GRID))
    scales = sorted({round(a * m, 6) for h, b, m in combos for a in (h, b)})
    pred = predictions(rows, scales)

    def at(combo: tuple[float, float, float], what: int) -> np.ndarray:
        h, b, m = combo
        k = np.round(np.where(blackwell, b, h) * np.where(moe, m, 1.0), 6)
        P = np.full(len(rows), np.nan)
        for v in np.unique(k):
            P[k == v] = pred[float(v)][what][k == v]
        return P

    ttft = {c: at(c, 0) for c in combos}
    ok = np.isfinite(pred[scales[0]][0])

    def loss(P: np.ndarray, sel: np.ndarray) -> float:
        return float(np.nanmedian(np.abs(np.log(P[sel] / measured[sel]))))

    best = min(combos, key=lambda c: loss(ttft[c], ok))
    stored = _stored_prefill_scale()
    if stored in ttft and loss(ttft[stored], ok) <= (1 + KEEP) * loss(ttft[best], ok):
        best = stored  # the valley is flat: a point no better by more than KEEP leaves the stored fit as it is
    cv_ttft, cv_itl = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    folds = {}
    for m in sorted(set(model)):
        train, test = ok & (model != m), ok & (model == m)
        pick = min(combos, key=lambda c: loss(ttft[c], train))
        folds[m] = pick
        cv_ttft[test] = ttft[pick][test]
        cv_itl[test] = at(pick, 1)[test]
    return {"best": best, "fitted": ttft[best], "ttft": cv_ttft, "itl": cv_itl, "folds": folds, "ok": ok}
