"""Fitting constants to the measured points, shared by the benchmark scripts.

Two fits, each in its section:

* the `serving` method's default constants, shared by every GPU, by least squares over the points of
  benchmarks/measurements.py, and cross-validated by source (``fit``, ``cross_validated``; which points take
  part: ``fitted``). benchmarks/fit.py prints and stores the fit; benchmarks/validate.py quotes the
  cross-validated error. Needs scipy (pip install scipy), imported when a fit runs; llmxl itself does not.
* llmxl.calibrate on a few of a stack's points, judged on the stack's other points (``stack_results``,
  ``one_stack_results``): benchmarks/calibrate.py prints it, benchmarks/validate.py tabulates it.

Imports benchmarks/measurements.py (from benchmarks/ on sys.path, as the scripts set it); imports no script.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections import Counter
from pathlib import Path

import numpy as np
from measurements import ONE_STACK, calibration_measurement, load, predict, source_group

import llmxl
from llmxl.calibration import Measurement, _predict, calibrate, read_measurements

# The `serving` defaults: six constants shared by every GPU, fitted to the points by least squares.

NAMES = ("allreduce_latency_s", "layer_overhead_s", "prefill_overhead_s", "decode_overhead_s",
         "flops_efficiency", "hbm_efficiency")  # fmt: skip
GPU_FIELDS = ("allreduce_latency_s", "layer_overhead_s", "prefill_overhead_s", "decode_overhead_s",
              "serving_flops_efficiency", "serving_hbm_efficiency")  # fmt: skip
LOWER = np.array([0.0, 0.0, 0.0, 0.0, 0.05, 0.05])
UPPER = np.array([1e-3, 1e-3, 0.2, 0.02, 1.0, 1.0])
SCALE = np.array([1e-5, 1e-5, 1e-3, 1e-4, 1.0, 1.0])  # the optimiser works in these units


def _gpus(theta: np.ndarray, per_gpu: tuple[str, ...] = ()) -> dict[str, object]:
    """Every catalog GPU with the shared constants theta[:6]; a GPU of ``per_gpu`` with its own fe, he after them."""
    values = dict(zip(GPU_FIELDS, (float(x) for x in theta[:6]), strict=True))
    out = {g: llmxl.get_gpu(g).model_copy(update=values) for g in llmxl.gpus()}
    for i, g in enumerate(per_gpu):
        own = {"serving_flops_efficiency": float(theta[6 + 2 * i]), "serving_hbm_efficiency": float(theta[7 + 2 * i])}
        out[g] = out[g].model_copy(update=own)  # type: ignore[attr-defined]
    return out


def predictions(rows: list[dict[str, str]], theta: np.ndarray, per_gpu: tuple[str, ...] = ()) -> np.ndarray:
    gpus = _gpus(theta, per_gpu)
    out = []
    for row in rows:
        value, _ = predict({**row, "gpu": gpus[row["gpu"]]}, "serving")  # type: ignore[dict-item]
        out.append(math.nan if value is None or value <= 0 else value)
    return np.array(out)


#: how the points weigh in the fit: each regime the same (the default), each point, or each source the same
WEIGHTINGS = ("regime", "point", "source")


def weights(rows: list[dict[str, str]], weighting: str) -> np.ndarray:
    """Residual weights: 1/sqrt(points of the row's group), so that every group's squared errors sum to its mean."""
    if weighting == "point":
        return np.ones(len(rows))
    key = (lambda r: r["regime"]) if weighting == "regime" else source_group
    counts = Counter(key(r) for r in rows)
    return np.array([1 / math.sqrt(counts[key(r)]) for r in rows])


def fit(
    rows: list[dict[str, str]], start: np.ndarray, per_gpu: tuple[str, ...] = (), weighting: str = "regime"
) -> np.ndarray:
    from scipy.optimize import least_squares

    measured = np.array([float(r["value"]) for r in rows])
    w = weights(rows, weighting)
    extra = len(start) - len(SCALE)
    lower, upper = np.concatenate([LOWER, [0.05] * extra]), np.concatenate([UPPER, [1.0] * extra])
    scale = np.concatenate([SCALE, [1.0] * extra])

    def residuals(z: np.ndarray) -> np.ndarray:
        pred = predictions(rows, z * scale, per_gpu)
        r = np.log(pred / measured)
        return w * np.where(np.isfinite(r), r, 3.0)  # a point the constants make impossible counts as a big miss

    z0 = np.clip(start, lower, upper) / scale
    res = least_squares(residuals, z0, bounds=(lower / scale, upper / scale), diff_step=1e-3)
    if not res.success:
        raise SystemExit(f"the fit did not converge: {res.message}")
    return res.x * scale


def fitted(row: dict[str, str]) -> bool:
    """Whether a point takes part in fitting the defaults.

    Runs at a fixed concurrency do not: their figures come from the closed loop of docs/methodology.md
    ("Engines and load"), whose queueing for prefill and front-end time are the load model's, not the GPU's;
    fitting the GPU constants to how far real engines depart from it would bend them for every other regime. They are
    estimated with the constants fitted to the other points, like any held-out point.
    """
    return not row["regime"].startswith("concurrency_")


def fitted_gpus(rows: list[dict[str, str]]) -> list[str]:
    """The catalog ids of the GPUs the fitted points of ``rows`` are on (methods.toml's [serving] fitted_gpus)."""
    return sorted({llmxl.get_gpu(r["gpu"]).id for r in rows if fitted(r)})


def cross_validated(
    rows: list[dict[str, str]], start: np.ndarray, per_gpu: tuple[str, ...] = (), weighting: str = "regime"
) -> np.ndarray:
    """|error| of each point, estimated with constants fitted to the other sources only (a point that is
    never fitted, with the constants fitted to every point that is)."""
    measured = np.array([float(r["value"]) for r in rows])
    cv = np.full(len(rows), math.nan)
    used = [i for i, r in enumerate(rows) if fitted(r)]
    for g in sorted({source_group(rows[i]) for i in used}):
        held = [i for i in used if source_group(rows[i]) == g]
        t = fit([rows[i] for i in used if i not in held], start, per_gpu, weighting)
        cv[held] = np.abs(predictions([rows[i] for i in held], t, per_gpu) / measured[held] - 1)
    never = [i for i, r in enumerate(rows) if not fitted(r)]
    if never:
        t = fit([rows[i] for i in used], start, per_gpu, weighting)
        cv[never] = np.abs(predictions([rows[i] for i in never], t, per_gpu) / measured[never] - 1)
    return cv


# Calibrating on a stack: llmxl.calibrate on TRAIN of a stack's points, judged on its other points.

MIN_POINTS = 6
TRAIN = 4
MAX_SUBSETS = 40


def held_out_error(train: list[Measurement], test: list[Measurement]) -> tuple[float, float, float]:
    """Median error on ``test`` with the defaults, calibrated on ``train`` (the GPU's constants and the engine's
    fitted settings), and as saved: calibrated when llmxl would save the fit, the defaults when it reports a
    problem and refuses (as a user following it ends up)."""
    cal = calibrate(train, cross_validate=False)  # its problems (bounds, convergence) do not need the leave-one-out
    base = llmxl.get_gpu(cal.gpu)
    errs_before, errs_after = [], []
    for m in test:
        for metric, value in m.metrics.items():
            errs_before.append(abs(_predict(m, base)[metric] / value - 1))
            errs_after.append(abs(_predict(m, cal.spec, cal.engine_spec)[metric] / value - 1))
    before, after = statistics.median(errs_before), statistics.median(errs_after)
    return before, after, before if cal.problems else after


#: (stack, GPU, points, subsets tried, median held-out error with the defaults, calibrated, as saved)
Stack = tuple[str, str, int, int, float, float, float]


def stack_results() -> list[Stack]:
    """(stack, GPU, points, subsets tried, median held-out error with the defaults, calibrated, and as saved)
    per stack."""
    stacks: dict[tuple[str, str], list[Measurement]] = {}
    for r in load():
        stacks.setdefault((source_group(r).strip(), r["gpu"]), []).append(calibration_measurement(r))
    rng = random.Random(0)
    out = []
    for (group, gpu), ms in sorted(stacks.items()):
        if len(ms) < MIN_POINTS:
            continue
        subsets = list(itertools.combinations(range(len(ms)), TRAIN))
        if len(subsets) > MAX_SUBSETS:
            subsets = rng.sample(subsets, MAX_SUBSETS)
        errors = [
            held_out_error([ms[i] for i in idx], [m for i, m in enumerate(ms) if i not in idx]) for idx in subsets
        ]
        out.append((group, gpu, len(ms), len(subsets), *(statistics.median(e[k] for e in errors) for k in range(3))))
    return out


def one_stack_results(path: Path = ONE_STACK) -> tuple[list[tuple[int, float, float]], float, float]:
    """Each run of one stack predicted by a calibration on the stack's other runs: per run (concurrency, median
    error of its figures with the defaults, calibrated), and the median over every held-out figure."""
    ms = read_measurements(path)
    rows, before_all, after_all = [], [], []
    for i, m in enumerate(ms):
        cal = calibrate(ms[:i] + ms[i + 1 :], cross_validate=False)
        base = llmxl.get_gpu(cal.gpu)
        before = [abs(_predict(m, base)[k] / v - 1) for k, v in m.metrics.items()]
        after = [abs(_predict(m, cal.spec, cal.engine_spec)[k] / v - 1) for k, v in m.metrics.items()]
        before_all += before
        after_all += after
        rows.append((m.concurrency or m.batch_size or 0, statistics.median(before), statistics.median(after)))
    return rows, statistics.median(before_all), statistics.median(after_all)
