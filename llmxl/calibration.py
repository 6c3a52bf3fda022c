"""Calibration: fit the `serving` method's GPU constants to a user's own measurements.

>>> cal = calibrate("points.csv")                 # doctest: +SKIP
>>> cal.save("my-vllm")                           # doctest: +SKIP
'h100-sxm-80gb@my-vllm'

A measurement is one benchmark run: model, GPU, tp, dtype, prompt and completion tokens, a batch
size (static batching) or a concurrency (continuous batching, as ``vllm bench serve
--max-concurrency`` and genai-perf ``--concurrency`` run), and one or more of TTFT, TPOT (or ITL),
end-to-end latency and output tokens/s. The fit minimises the squared log error of every measured
figure (projected Levenberg–Marquardt within physical bounds; numpy only), fits only the constants
the measurements inform, and judges itself by leave-one-out cross-validation.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import statistics
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import catalog
from .calibration_load import ENGINE_CONSTANTS, config_key, override_text, predict_all, scan_reserve
from .errors import InvalidInputError, LlmxlError
from .measurements import (
    METRICS,
    Measurement,
    check_duplicates,
    describe_sources,
    gather,
    metric_percentile,
    read_measurements,
)
from .specs import SERVING_FIELDS

__all__ = ["CONSTANTS", "ENGINE_CONSTANTS", "METRICS", "Calibration", "Measurement", "calibrate", "read_measurements"]

# The constants, in the order they are given up when the points are too few: the efficiencies
# first, then the all-reduce latency (when some run has tp > 1: it costs every pass of every layer,
# so it is the largest fixed cost of a tensor-parallel stack; first of all when every run has the same
# tp > 1, see _informed), then the decode and prefill overheads.
CONSTANTS = (
    "hbm_efficiency",
    "flops_efficiency",
    "allreduce_latency_s",
    "decode_overhead_s",
    "prefill_overhead_s",
    "layer_overhead_s",
)
# The constants a least-squares step moves: the GPU's, and the engine's front-end time (its reserve is a step
# function of the figures, found by calibration_load.scan_reserve).
_CONTINUOUS = (*CONSTANTS, "front_end_s")
# constant -> the GpuSpec field that carries it (the inverse of specs.SERVING_FIELDS)
_GPU_FIELD = {constant: gpu_field for gpu_field, constant in SERVING_FIELDS.items()}
# Physical bounds of the search (a modelling choice, the same as benchmarks/fitting.py), and the units
# the optimiser works in so that every step is of order one.
_LOWER = {"hbm_efficiency": 0.05, "flops_efficiency": 0.05}
_UPPER = {
    "hbm_efficiency": 1.0,
    "flops_efficiency": 1.0,
    "decode_overhead_s": 0.02,
    "prefill_overhead_s": 0.2,
    "allreduce_latency_s": 1e-3,
    "layer_overhead_s": 1e-3,
    "front_end_s": 1.0,
}
_SCALE = {
    "hbm_efficiency": 1.0,
    "flops_efficiency": 1.0,
    "decode_overhead_s": 1e-4,
    "prefill_overhead_s": 1e-3,
    "allreduce_latency_s": 1e-5,
    "layer_overhead_s": 1e-5,
    "front_end_s": 1e-2,  # a typical front-end time (HTTP, tokenisation): its share of a figure is judged at it
}
# At least this many measured figures per fitted constant: fitting as many constants as figures
# reproduces the given points exactly and predicts the others worse than the defaults
# (benchmarks/calibrate.py measured 1, 2 and 3 on the public measurements; 3 did best).
FIGURES_PER_CONSTANT = 3
# A constant that a 1 % change moves no measured figure by 0.01 % (its share of every figure, the
# elasticity |d ln figure / d ln constant|, below 1 %) cannot be fitted from them: a few per cent of
# misfit would take it out of its range. E.g. the FLOPs efficiency from batch-1 runs of 5-token prompts.
MIN_SHARE = 0.01


@dataclass(frozen=True)
class Calibration:
    """Fitted `serving` constants of one GPU, with their uncertainty and errors.

    Attributes
    ----------
    gpu : The catalog GPU the measurements ran on.
    constants : Every serving constant after the fit (fitted or kept at the GPU's default).
    defaults : The same constants before the fit.
    fitted : The constants the measurements informed and the fit set.
    kept : The constants left at their defaults, with why.
    uncertainty : One standard error of each fitted constant (None when the points are exactly as many
        as the constants fitted).
    error_before, error_after : Median absolute relative error on the given figures, with the
        defaults and with the fit.
    error_cross_validated : The same, each point estimated by a fit to the other points only (None
        below 3 points).
    points : Measured figures, one dict per (run, metric), with before and after estimates.
    problems : Why the fit is not offered (no convergence, a constant pushed out of its physical range, runs
        held out predicted worse than by the defaults); a calibration with problems is not saved.
    notes : What the caller should know about a fit that is offered (e.g. an overhead fitted to 0).
    suggested_constants : The constants to fit instead when a problem names one to leave out (pass them as
        ``constants=``, or ``--fit`` at the command line); empty otherwise.
    """

    gpu: str
    constants: dict[str, float]
    defaults: dict[str, float]
    fitted: tuple[str, ...]
    kept: dict[str, str]
    uncertainty: dict[str, float | None]
    error_before: float
    error_after: float
    error_cross_validated: float | None
    points: list[dict[str, Any]]
    problems: tuple[str, ...]
    source: str
    seconds: float = 0.0
    name: str | None = None
    notes: tuple[str, ...] = ()
    suggested_constants: tuple[str, ...] = ()
    engine: str = "vllm"
    """The engine profile the runs were estimated under (with the settings the caller gave)."""
    engine_override: str | None = None
    """The engine with the fitted settings, as every face takes it (``vllm:front_end_s=0.012,reserve_gib=5.8``:
    engine= in Python, --engine at the command line, a cell's engine argument); None when no engine setting was
    fitted. Offered only without problems."""
    reserve_range_gib: tuple[float, float] | None = None
    """The reserves that explain the runs equally well (the cache holds whole sequences): the fit is the middle."""

    @property
    def spec(self) -> Any:
        """A GpuSpec: the GPU with these constants (id ``gpu@name`` once named)."""
        base = catalog.get_gpu(self.gpu)
        update: dict[str, Any] = {_GPU_FIELD[c]: float(v) for c, v in self.constants.items() if c in _GPU_FIELD}
        update.update(
            id=f"{self.gpu}@{self.name}" if self.name else f"{self.gpu}@calibrated",
            aliases=(),
            serving_source=self.source,
            serving_checked=_dt.date.today(),
        )
        return base.model_copy(update=update)

    @property
    def engine_spec(self) -> Any:
        """The runs' engine with the settings this fit set (offered or not: for comparing; the GPU's constants
        are :attr:`spec`)."""
        from .resolve import resolve_engine

        update = {c: self.constants[c] for c in ENGINE_CONSTANTS if c in self.fitted}
        base = resolve_engine(self.engine)
        return base.model_copy(update=update) if update else base

    def save(self, name: str, path: str | os.PathLike[str] | None = None, *, force: bool = False) -> str:
        """Save as the user-catalog GPU ``<gpu>@<name>``, usable by name everywhere; returns that name.

        ``path`` defaults to the first ``LLMXL_CATALOG`` file, else the default user catalog
        (``~/.config/llmxl/catalog.toml``). An entry of that name is replaced only with ``force``.
        """
        name = _check_name(name)
        if self.problems:
            raise InvalidInputError(f"not saved: {self.problems[0]}", field="calibration")
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise InvalidInputError(f"path must be the path of a .toml file, got {type(path).__name__}", field="path")
        named = replace(self, name=name)
        target = Path(path).expanduser() if path is not None else _default_save_path()
        _save_entry(named.spec, target, force=force)
        return f"{self.gpu}@{name}"

    def table(self) -> list[tuple[str, str, str, str]]:
        """(constant, default, fitted, ± one standard error) as text, for printing."""
        rows = []
        for c in (*CONSTANTS, *ENGINE_CONSTANTS):
            if c not in self.defaults:
                continue
            unc = self.uncertainty.get(c)
            if c == "reserve_gib" and c in self.fitted and self.reserve_range_gib:
                lo, hi = self.reserve_range_gib
                unc_text = f"{lo:.3g}–{hi:.3g} GiB"
                rows.append((c, f"{self.defaults[c]:.4g}", f"{self.constants[c]:.4g}", unc_text))
                continue
            rows.append(
                (
                    c,
                    f"{self.defaults[c]:.4g}",
                    f"{self.constants[c]:.4g}" if c in self.fitted or self.constants[c] != self.defaults[c] else "kept",
                    (f"± {unc:.2g}" if unc is not None else "± n/a") if c in self.fitted else self.kept.get(c, ""),
                )
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "gpu": self.gpu,
            "name": self.name,
            "constants": self.constants,
            "defaults": self.defaults,
            "fitted": list(self.fitted),
            "kept": self.kept,
            "uncertainty": self.uncertainty,
            "error_before": self.error_before,
            "error_after": self.error_after,
            "error_cross_validated": self.error_cross_validated,
            "problems": list(self.problems),
            "notes": list(self.notes),
            "suggested_constants": list(self.suggested_constants),
            "engine": self.engine,
            "engine_override": self.engine_override,
            "reserve_range_gib": list(self.reserve_range_gib) if self.reserve_range_gib else None,
            "points": self.points,
            "seconds": self.seconds,
        }


# ---------------------------------------------------------------------------
# Predicting and fitting


def _predict(m: Measurement, gpu: Any, engine: Any = None) -> dict[str, float]:
    """The figures ``m`` measured, as llmxl estimates them on ``gpu`` under ``engine`` (a name, text or spec)."""
    from .resolve import resolve_engine

    return predict_all([m], gpu, resolve_engine(engine))[0]


class _Problem:
    def __init__(self, ms: list[Measurement], gpu: Any, engine: Any, tie: float | None = None) -> None:
        self.ms = ms
        self.base = gpu
        self.engine = engine
        self.measured = np.array([v for m in ms for v in m.metrics.values()])
        self.tie = tie  # layer overhead per second of all-reduce latency, when they move together (_tie)

    def tied(self, values: Mapping[str, float]) -> dict[str, float]:
        """``values`` with the layer overhead in proportion to the all-reduce latency, when they are tied."""
        out = dict(values)
        if self.tie is not None:
            out["layer_overhead_s"] = self.tie * out["allreduce_latency_s"]
        return out

    def specs(self, values: Mapping[str, Any]) -> tuple[Any, Any]:
        """The GPU and the engine with ``values`` (reserve_gib None: the profile's own reserves)."""
        tied = self.tied(values)
        g = self.base.model_copy(update={_GPU_FIELD[c]: float(v) for c, v in tied.items() if c in _GPU_FIELD})
        update = {k: tied[k] for k in ENGINE_CONSTANTS if k in tied}
        return g, self.engine.model_copy(update=update) if update else self.engine

    def predictions(self, values: Mapping[str, Any]) -> np.ndarray:
        g, eng = self.specs(values)
        return np.array([v for got in predict_all(self.ms, g, eng) for v in got.values()])


def _tie(ms: list[Measurement], start: Mapping[str, float]) -> float | None:
    """With one model at one tp > 1, every pass pays L (2 λ + τL): the runs cannot tell the all-reduce latency
    from the layer overhead, and fitting λ alone cannot take that cost below L τL. They are then fitted as one,
    the layer overhead in proportion to the all-reduce latency as in the defaults; this returns τL / λ."""
    one_model = len({catalog.get_model(m.model).num_hidden_layers for m in ms}) == 1
    one_tp = len({m.tp for m in ms}) == 1 and ms[0].tp > 1
    if one_model and one_tp and start["allreduce_latency_s"] > 0 and start["layer_overhead_s"] > 0:
        return start["layer_overhead_s"] / start["allreduce_latency_s"]
    return None


def _shares(problem: _Problem, start: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Each constant's share of each measured figure: |d ln figure / d ln constant|, by a 1 % step (of its
    typical size, _SCALE, for a constant at 0). It depends on the runs' configurations, not on the measured
    values."""
    f0 = problem.predictions(start)
    out = {}
    for c in _CONTINUOUS:
        step = 0.01 * max(abs(start[c]), _SCALE[c])
        out[c] = np.abs(np.log(problem.predictions({**start, c: start[c] + step}) / f0)) / 0.01
    return out


#: Two constants whose shares of the figures point the same way within this cosine cannot be told apart.
TWIN_COSINE = 0.999


def _informed(
    ms: list[Measurement], wanted: Iterable[str], shares: Mapping[str, np.ndarray] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The constants these measurements can set, capped at their number of figures; why the others are kept.
    ``shares``: each constant's share of each of these measurements' figures (_shares)."""
    metrics = {metric_percentile(k)[0] for m in ms for k in m.metrics}
    loads: dict[tuple[Any, ...], set[Any]] = {}
    for m in ms:
        if m.batch_size is None and any(metric_percentile(k)[0] == "ttft_s" for k in m.metrics):
            loads.setdefault(config_key(m), set()).add((m.concurrency, m.request_rate))
    decode = bool(metrics & {"tpot_s", "e2e_s", "output_tokens_per_s"})
    reasons = {
        "hbm_efficiency": None if decode else "no decode figure (tpot_s, e2e_s or output_tokens_per_s)",
        "flops_efficiency": None
        if metrics & {"ttft_s", "e2e_s", "output_tokens_per_s"}
        else "no figure with a prefill (ttft_s, e2e_s or output_tokens_per_s)",
        "decode_overhead_s": None if decode else "no decode figure",
        "prefill_overhead_s": None if "ttft_s" in metrics else "no ttft_s figure",
        "allreduce_latency_s": None if any(m.tp > 1 for m in ms) else "every run has tp=1",
        "layer_overhead_s": None
        if len({catalog.get_model(m.model).num_hidden_layers for m in ms}) > 1
        else "one layer count only: it cannot be told from the per-pass overheads",
        "front_end_s": None
        if any(len(v) >= 2 for v in loads.values())
        else "needs TTFT at two or more concurrencies (or rates) of one configuration: the floor that does not move "
        "with load",
    }
    share = {c: float(v.max()) if v.size else 0.0 for c, v in (shares or {}).items()}
    for c, most in share.items():
        if reasons[c] is None and most < MIN_SHARE:
            reasons[c] = (
                f"a 1 % change moves no measured figure by more than {most:.2g} %: these runs cannot tell its value"
                if most > 0
                else "no measured figure depends on it"
            )
    wanted = list(wanted)
    if shares and reasons["front_end_s"] is None and "front_end_s" in wanted and "prefill_overhead_s" in wanted:
        a, b = shares["front_end_s"], shares["prefill_overhead_s"]
        cos = float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-300))
        if cos > TWIN_COSINE and reasons["prefill_overhead_s"] is None:
            # every prompt is computed in one step beside the same decodes: τPre adds to TTFT exactly as f does
            reasons["prefill_overhead_s"] = (
                "cannot be told from front_end_s in these runs (each prompt in one step: both add the same to "
                "every TTFT); kept, the front-end time fitted"
            )
    kept = {c: "not asked for" for c in _CONTINUOUS if c not in wanted}
    fit = []
    figures = sum(len(m.metrics) for m in ms)
    order = list(_CONTINUOUS)
    if len({m.tp for m in ms}) == 1 and ms[0].tp > 1:
        # One tensor-parallel width for every run: the all-reduce latency, 2·L·λ on every pass, is the stack's
        # largest fixed cost and the runs cannot tell it from the per-pass overheads: it goes first.
        order.remove("allreduce_latency_s")
        order.insert(0, "allreduce_latency_s")
    for c in order:
        if c not in wanted:
            continue
        if reasons[c]:
            kept[c] = reasons[c]
        elif len(fit) >= max(1, figures // FIGURES_PER_CONSTANT):
            kept[c] = (
                f"{figures} measured figure{'s' if figures != 1 else ''} inform at most {len(fit)} "
                f"constant{'s' if len(fit) != 1 else ''} ({FIGURES_PER_CONSTANT} per constant)"
            )
        else:
            fit.append(c)
    return fit, kept


#: Most Levenberg–Marquardt steps a fit takes before it is reported as not converged.
MAX_STEPS = 100


def _lm(
    problem: _Problem, names: list[str], start: Mapping[str, float], max_iter: int = MAX_STEPS
) -> tuple[dict[str, float], bool, np.ndarray]:
    """Projected Levenberg–Marquardt on log residuals; (values, converged, Jacobian in scaled units)."""
    scale = np.array([_SCALE[c] for c in names])
    lo = np.array([_LOWER.get(c, 0.0) for c in names]) / scale
    hi = np.array([_UPPER[c] for c in names]) / scale
    fixed = dict(start)
    log_meas = np.log(problem.measured)

    def residuals(z: np.ndarray) -> np.ndarray:
        vals = {**fixed, **{c: float(x) for c, x in zip(names, z * scale, strict=True)}}
        pred = problem.predictions(vals)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.log(pred) - log_meas
        return np.where(np.isfinite(r), r, 3.0)

    def jacobian(z: np.ndarray, r: np.ndarray) -> np.ndarray:
        J = np.empty((r.size, z.size))
        for j in range(z.size):
            h = 1e-5 * max(1.0, abs(z[j]))
            zz = z.copy()
            zz[j] = z[j] + h if z[j] + h <= hi[j] else z[j] - h
            J[:, j] = (residuals(zz) - r) / (zz[j] - z[j])
        return J

    z = np.clip(np.array([start[c] for c in names]) / scale, lo, hi)
    r = residuals(z)
    cost = float(r @ r)
    mu = 1e-3
    converged = False
    J = jacobian(z, r)
    for _ in range(max_iter):
        A = J.T @ J
        g = J.T @ r
        # A constant at a bound that the gradient pushes further out stays there (the active set); the step
        # moves the others. Without this the clipped step crawls along the bound and never converges.
        span = hi - lo
        pinned = ((z <= lo + 1e-12 * span) & (g > 0)) | ((z >= hi - 1e-12 * span) & (g < 0))
        free = ~pinned
        if not free.any() or np.max(np.abs(g[free])) < 1e-12:
            converged = True
            break
        Af, gf = A[np.ix_(free, free)], g[free]
        improved = False
        for _ in range(12):
            step = np.zeros(z.size)
            step[free] = np.linalg.solve(Af + mu * (np.diag(np.diag(Af)) + 1e-12 * np.eye(int(free.sum()))), -gf)
            z_new = np.clip(z + step, lo, hi)
            r_new = residuals(z_new)
            cost_new = float(r_new @ r_new)
            if cost_new < cost:
                improved = True
                break
            mu *= 4
        if not improved:
            converged = True  # no step lowers the cost: a (bounded) minimum
            break
        # the tolerances of scipy.optimize.least_squares: relative cost change and step below 1e-8
        small = np.max(np.abs(z_new - z)) < 1e-8 * (1 + np.max(np.abs(z))) or cost - cost_new < 1e-8 * cost
        z, r, cost = z_new, r_new, cost_new
        mu = max(mu / 3, 1e-9)
        J = jacobian(z, r)
        if small:
            converged = True
            break
    return {**fixed, **{c: float(x) for c, x in zip(names, z * scale, strict=True)}}, converged, J


def _median_abs(pred: np.ndarray, measured: np.ndarray) -> float:
    return float(np.median(np.abs(pred / measured - 1.0)))


def _fit(
    problem: _Problem,
    names: list[str],
    start: Mapping[str, Any],
    reserve: bool,
    max_iter: int = MAX_STEPS,
) -> tuple[dict[str, Any], bool, np.ndarray | None, Any]:
    """The continuous constants by least squares and, with ``reserve``, the reserve by a scan of the steps the
    saturated runs make, in turn until the sequences the cache holds stop changing (at most three rounds).
    Returns (values, converged, Jacobian, the last reserve scan or None)."""
    values, converged, J = dict(start), True, None
    if names:
        values, converged, J = _lm(problem, names, start, max_iter)
    scan = None
    if not reserve:
        return values, converged, J, None
    flag = problem.engine.max_num_seqs_flag
    seen: list[Any] = []
    for _ in range(3):
        g, eng = problem.specs(values)
        scan = scan_reserve(problem.ms, g, eng, flag)
        if scan.reserve_gib is None or scan.sequences in seen:
            break
        seen.append(scan.sequences)
        at = {**start, "reserve_gib": scan.reserve_gib}
        if names:
            values, converged, J = _lm(problem, names, at, max_iter)
        else:
            values = at
    if scan is not None and scan.reserve_gib is not None:
        values["reserve_gib"] = scan.reserve_gib
    return values, converged, J, scan


def calibrate(
    measurements: Any,
    *,
    model: str | None = None,
    gpu: str | None = None,
    tp: int | None = None,
    dtype: str | None = None,
    concurrency: int | None = None,
    engine: Any = None,
    constants: Iterable[str] | None = None,
    cross_validate: bool = True,
) -> Calibration:
    """Fit the `serving` constants of one GPU, and the engine's front-end time and memory reserve, to measurements;
    see the module's docstring.

    ``measurements``: a path (CSV, vLLM JSON or genai-perf CSV), a list of paths, or an iterable
    of :class:`Measurement` or of dicts with the plain CSV's columns. ``model``, ``gpu``, ``tp``,
    ``dtype`` and ``concurrency`` fill what the measurements do not say; ``engine`` is what the runs ran
    under (a name, ``"vllm:max_num_seqs=512"`` or an EngineSpec; default vLLM). ``constants`` limits the
    fit to some of :data:`CONSTANTS` and :data:`ENGINE_CONSTANTS`; the engine's fitted settings come back as
    :attr:`Calibration.engine_override`.
    """
    from .resolve import resolve_engine

    started = time.perf_counter()
    defaults = {
        k: v
        for k, v in dict(model=model, gpu=gpu, tp=tp, dtype=dtype, concurrency=concurrency).items()
        if v is not None
    }
    eng = resolve_engine(engine)
    ms = gather(measurements, defaults)
    every = (*CONSTANTS, *ENGINE_CONSTANTS)
    wanted = list(every) if constants is None else [_check_constant(c) for c in constants]
    gpus = sorted({m.gpu for m in ms})
    if len(gpus) > 1:
        raise InvalidInputError(
            f"the measurements are on {len(gpus)} GPUs ({', '.join(gpus)}); calibrate one GPU at a time "
            "(a file, or a list of runs, per GPU)",
            field="gpu",
        )
    check_duplicates(ms)
    base = catalog.get_gpu(gpus[0])
    start: dict[str, Any] = dict(catalog.serving_constants(base).model_dump())
    start = {c: float(start[c]) for c in CONSTANTS}
    start["front_end_s"] = float(eng.front_end_s)
    start["reserve_gib"] = eng.reserve_gib  # None: the profile's own reserves
    problem = _Problem(ms, base, eng, _tie(ms, start))
    try:
        before = problem.predictions(start)
    except LlmxlError as exc:  # a run that cannot be estimated at all, e.g. it does not fit
        bad = next(m for m in ms if _fails(m, base, eng))
        raise InvalidInputError(f"{bad.where}: {exc.message}", field=exc.field or "measurement") from None
    shares = _shares(problem, start)
    names, kept = _informed(ms, wanted, shares)
    fit_reserve = "reserve_gib" in wanted
    if not fit_reserve:
        kept["reserve_gib"] = "not asked for"
    if not names and not fit_reserve:
        raise InvalidInputError(
            "no constant can be fitted: " + "; ".join(f"{c}: {why}" for c, why in kept.items()), field="constants"
        )
    values, converged, J, scan = _fit(problem, names, start, fit_reserve)
    reserve_range = None
    if fit_reserve:
        if scan is not None and scan.reserve_gib is not None:
            reserve_range = (float(scan.low_gib), float(scan.high_gib))  # type: ignore[arg-type]
        else:
            kept["reserve_gib"] = scan.reason if scan is not None else "no run at a concurrency"
    if not names and reserve_range is None:
        raise InvalidInputError(
            "no constant can be fitted: " + "; ".join(f"{c}: {why}" for c, why in kept.items()), field="constants"
        )
    values = problem.tied(values)
    if problem.tie is not None and "allreduce_latency_s" in names:
        kept["layer_overhead_s"] = (
            f"moved with allreduce_latency_s ({problem.tie:.3g} × it, as in the defaults): with one model at one "
            "tp > 1 the runs cannot tell them apart"
        )
    after = problem.predictions(values)
    problems = []
    notes = []
    suggested: list[str] = []
    if not converged:
        problems.append(f"the fit did not converge in {MAX_STEPS} steps (constants {', '.join(names)})")
    for c in names:
        lo, hi = _LOWER.get(c, 0.0), _UPPER[c]
        at_lo = abs(values[c] - lo) <= 1e-6 * max(_SCALE[c], abs(lo))
        at_hi = abs(values[c] - hi) <= 1e-6 * max(_SCALE[c], hi)
        if at_lo and lo == 0.0:
            # An overhead of 0 is physical: the runs show no such fixed cost beyond what the others explain.
            notes.append(f"{c} fitted to 0 s: the runs show no such fixed cost beyond what the other constants explain")
        elif at_lo or at_hi:
            side, bound = ("lower", lo) if at_lo else ("upper", hi)
            problems.append(
                f"{c} ended at its {side} bound {bound:g}: the measurements push it out of physical range; "
                "check them or fit without it"
            )
            suggested = [n for n in (suggested or names) if n != c]
    if reserve_range is not None:
        lo_r, hi_r = reserve_range
        if (hi_r - lo_r) > 0.1 * values["reserve_gib"]:
            notes.append(
                f"reserve_gib is known only to {lo_r:.3g}–{hi_r:.3g} GiB: the cache holds whole requests, and the "
                "runs saturate it at one step; runs of other lengths narrow it"
            )
    figures = problem.measured.size
    unc: dict[str, float | None] = {c: None for c in names}
    if figures > len(names) and J is not None:
        r = np.log(after / problem.measured)
        s2 = float(r @ r) / (figures - len(names))
        try:
            cov = np.linalg.inv(J.T @ J) * s2
            for j, c in enumerate(names):
                unc[c] = float(math.sqrt(max(cov[j, j], 0.0)) * _SCALE[c])
        except np.linalg.LinAlgError:
            pass
    cv = _cross_validate(problem, ms, wanted, start, shares, fit_reserve) if cross_validate and len(ms) >= 3 else None
    error_before = _median_abs(before, problem.measured)
    e_after = _median_abs(after, problem.measured)
    if cv is not None and cv > error_before:
        problems.append(
            f"each run predicted by a fit to the other runs is off by {100 * cv:.1f} % (median), more than the "
            f"{100 * error_before:.1f} % of the defaults: the fit does not carry over to runs it has not seen, so it "
            "is not offered; add runs (other models, widths, concurrencies) or fit fewer constants"
        )
    elif len(ms) < 3 and e_after > error_before:  # no run to leave out: at least not worse on its own runs
        problems.append(
            f"the fit is off by {100 * e_after:.1f} % (median) on its own runs, more than the "
            f"{100 * error_before:.1f} % of the defaults, so it is not offered"
        )
    rows = [
        {
            "where": ms[i].where,
            "metric": metric,
            "measured": float(problem.measured[k]),
            "before": float(before[k]),
            "after": float(after[k]),
        }
        for k, (i, metric) in enumerate((i, metric) for i, m in enumerate(ms) for metric in m.metrics)
    ]
    fitted = tuple(names) + (("reserve_gib",) if reserve_range is not None else ())
    engine_fitted = {c: float(values[c]) for c in ENGINE_CONSTANTS if c in fitted}
    base_engine = catalog.get_engine(eng.id)
    override = override_text(eng, base_engine, engine_fitted) if engine_fitted and not problems else None
    source = (
        f"calibrated by llmxl from {len(ms)} measurement{'s' if len(ms) != 1 else ''} "
        f"({describe_sources(ms)}) on {_dt.date.today().isoformat()}: fitted {', '.join(fitted)}; "
        f"median error {100 * error_before:.0f} % before, {100 * e_after:.0f} % after"
        + (f", {100 * cv:.0f} % cross-validated" if cv is not None else "")
        + (f"; with the engine {override}" if override else "")
    )
    profile_reserve = _profile_reserve(eng, ms)
    shown = {**values, "reserve_gib": profile_reserve if values.get("reserve_gib") is None else values["reserve_gib"]}
    shown_defaults = {**start, "reserve_gib": profile_reserve if eng.reserve_gib is None else eng.reserve_gib}
    return Calibration(
        gpu=base.id,
        constants={c: float(v) for c, v in shown.items()},
        defaults={c: float(v) for c, v in shown_defaults.items()},
        fitted=fitted,
        kept=kept,
        uncertainty=unc,
        error_before=error_before,
        error_after=e_after,
        error_cross_validated=cv,
        points=rows,
        problems=tuple(problems),
        source=source,
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
        suggested_constants=tuple(suggested) if problems and suggested else (),
        engine=override_text(eng, base_engine, {}),
        engine_override=override,
        reserve_range_gib=reserve_range,
    )


def _profile_reserve(eng: Any, ms: list[Measurement]) -> float:
    """The reserve the profile keeps at the runs' first tp [GiB] (what reserve_gib replaces), for the table."""
    if eng.memory_basis == "free_at_start":
        return 0.0
    return float(eng.runtime_reserve_gib + (eng.runtime_reserve_tp_gib if ms[0].tp > 1 else 0.0))


def _cross_validate(
    problem: _Problem,
    ms: list[Measurement],
    wanted: list[str],
    start: Mapping[str, Any],
    shares: Mapping[str, np.ndarray],
    reserve: bool = False,
) -> float:
    """Median absolute error of each run's figures estimated by a fit to the other runs (leave one out), each
    fit from the defaults as the whole one is, so that no constant carries what the held-out run told it."""
    errors: list[float] = []
    owner = np.array([i for i, m in enumerate(ms) for _ in m.metrics])
    for i in range(len(ms)):
        rest = [m for j, m in enumerate(ms) if j != i]
        names, _ = _informed(rest, wanted, {c: v[owner != i] for c, v in shares.items()})
        sub = _Problem(rest, problem.base, problem.engine, problem.tie)
        values, _, _, _ = _fit(sub, names, start, reserve, max_iter=20)
        one = _Problem([ms[i]], problem.base, problem.engine)
        errors.extend(np.abs(one.predictions(values) / one.measured - 1.0).tolist())
    return float(statistics.median(errors))


def _fails(m: Measurement, gpu: Any, engine: Any = None) -> bool:
    try:
        predict_all([m], gpu, engine)
    except LlmxlError:
        return True
    return False


def _check_constant(name: Any) -> str:
    if name in CONSTANTS or name in ENGINE_CONSTANTS:
        return str(name)
    every = ", ".join((*CONSTANTS, *ENGINE_CONSTANTS))
    raise InvalidInputError(f"constant {name!r} is unknown; choose from {every}", field="constants")


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name.strip()):
        raise InvalidInputError(
            f"calibration name {name!r} must be 1–40 letters, digits, '.', '_' or '-' (e.g. my-vllm)", field="name"
        )
    return name.strip()


# ---------------------------------------------------------------------------
# Saving to the user catalog


def _default_save_path() -> Path:
    env = os.environ.get(catalog.ENV_VAR)
    if env:
        first = next((p for p in env.split(os.pathsep) if p.strip()), None)
        if first:
            return Path(first).expanduser()
    return catalog.default_user_catalog_path()


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)


def _block(spec: Any) -> str:
    data = spec.model_dump(exclude_none=True, exclude={"aliases"})
    lines = [f"# llmxl calibrate: {spec.id} (begin; replaced by llmxl calibrate --save --force)", "[[gpus]]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in data.items()]
    lines.append(f"# llmxl calibrate: {spec.id} (end)")
    return "\n".join(lines) + "\n"


def _save_entry(spec: Any, path: Path, *, force: bool) -> None:
    import tomllib

    from .outputs import atomic_write
    from .textfile import read_small_file

    old = ""
    if path.exists():
        if not path.is_file():
            raise InvalidInputError(f"{path} is not a regular file; give a .toml file to save to", field="path")
        try:  # a catalog file llmxl can read back: UTF-8 text of sensible size
            old = read_small_file(path, "catalog file", "choose another file with --catalog")
        except LlmxlError as exc:
            raise InvalidInputError(f"not saved: {exc.message}", field="path") from None
    begin = f"# llmxl calibrate: {spec.id} (begin"
    end = f"# llmxl calibrate: {spec.id} (end)\n"
    if begin in old:
        if not force:
            raise InvalidInputError(
                f"{spec.id} is already saved in {path}; add --force (force=True) to replace it", field="name"
            )
        i = old.index(begin)
        j = old.index(end, i) + len(end) if end in old[i:] else -1
        if j < 0:
            raise InvalidInputError(
                f"{path}: the entry {spec.id} was edited by hand; edit or remove it there", field="name"
            )
        old = old[:i] + old[j:]
    elif catalog.normalise_name(spec.id) in catalog.get_catalog().index["gpus"]:
        raise InvalidInputError(f"a GPU called {spec.id} already exists; choose another name", field="name")
    new = old + ("\n" if old and not old.endswith("\n\n") else "") + _block(spec)
    try:  # the file must stay a valid catalog: check before it replaces the old one
        data = tomllib.loads(new)
        for item in data.get("gpus", []):
            catalog._build_spec("gpus", item, str(path), path.parent)
    except (tomllib.TOMLDecodeError, LlmxlError, RecursionError) as exc:
        why = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise InvalidInputError(
            f"{path}: would not stay a valid catalog ({why}); fix the file first", field="path"
        ) from None
    if not path.parent.exists():
        path.parent.mkdir(parents=True)
    atomic_write(path, new.encode("utf-8"))
    if path.resolve() in {p.resolve() for p in catalog.user_catalog_paths() if p.exists()}:
        catalog.reload()
    else:  # a file llmxl does not read by default: read it for the rest of this process
        catalog.add_catalog_file(path)
