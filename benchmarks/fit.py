"""Fit the `serving` method's default constants to the public measurements, and cross-validate the fit.

    python benchmarks/fit.py            # print the fit and its cross-validated error
    python benchmarks/fit.py --write    # also store the constants in llmxl/data/methods.toml

Six constants shared by every GPU (the data are too few to fit them per GPU): all-reduce latency λ, layer,
prefill and decode overheads τL, τPre, τDec, and the FLOPs and bandwidth efficiencies fe, he. They minimise the
squared log error of the measurements under benchmarks/data (scipy's least_squares, within physical bounds),
each regime (time to first token, static batch, full load, batch latency) weighing the same: the sum over
regimes of each regime's mean squared log error, so that the regime with the most points does not set the
constants for the others (--weighting compares per point and per source). The error that counts is
cross-validated by source: each source's points are estimated with constants fitted to the other sources only.
Needs scipy (pip install scipy); llmxl itself does not. The fit itself is benchmarks/fitting.py's, which
benchmarks/validate.py shares.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from fitting import (  # noqa: E402
    LOWER,
    NAMES,
    UPPER,
    WEIGHTINGS,
    cross_validated,
    fit,
    fitted,
    fitted_gpus,
    predictions,
)
from measurements import REGIMES, load, predict, source_group  # noqa: E402

import llmxl  # noqa: E402


def compare_per_gpu(
    rows: list[dict[str, str]], shared: np.ndarray, shared_cv: np.ndarray, least: int, weighting: str
) -> None:
    """Does the data support per-GPU efficiencies? Cross-validated error with and without them."""
    counts = {g: sum(r["gpu"] == g for r in rows) for g in {r["gpu"] for r in rows}}
    per_gpu = tuple(sorted(g for g, c in counts.items() if c >= least))
    if not per_gpu:
        print(f"no GPU has {least} points: nothing to fit per GPU")
        return
    start = np.concatenate([shared, np.tile(shared[4:6], len(per_gpu))])
    theta = fit(rows, start, per_gpu, weighting)
    cv = cross_validated(rows, theta, per_gpu, weighting)
    own = ", ".join(f"{g} fe {theta[6 + 2 * i]:.3g} he {theta[7 + 2 * i]:.3g}" for i, g in enumerate(per_gpu))
    with_own, shared_only = 100 * np.nanmedian(cv), 100 * np.nanmedian(shared_cv)
    print(f"per-GPU efficiencies for GPUs with ≥ {least} points ({own}): cross-validated median "
          f"{with_own:.1f} %, against {shared_only:.1f} % with shared constants")  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="store the constants in llmxl/data/methods.toml")
    p.add_argument("--per-gpu", type=int, metavar="N",
                   help="also fit fe and he per GPU for GPUs with at least N points, and compare")  # fmt: skip
    p.add_argument("--weighting", choices=WEIGHTINGS, default="regime",
                   help="each regime weighs the same (default), each point, or each source")  # fmt: skip
    args = p.parse_args()
    if args.write and args.weighting != "regime":
        p.error("--write stores the default weighting's fit only (docs/validation.md cross-validates that one)")
    rows = [r for r in load() if predict(r, "serving")[0] is not None]
    d = llmxl.catalog.method_defaults("serving")
    start = np.array([getattr(d, n) for n in NAMES])
    theta = fit([r for r in rows if fitted(r)], start, weighting=args.weighting)
    measured = np.array([float(r["value"]) for r in rows])
    train = np.abs(predictions(rows, theta) / measured - 1)
    groups = sorted({source_group(r) for r in rows})
    cv = cross_validated(rows, theta, weighting=args.weighting)
    print(f"fitted ({args.weighting} weighting):", ", ".join(f"{n} {v:.4g}" for n, v in zip(NAMES, theta, strict=True)))
    for n, v, lo, hi in zip(NAMES, theta, LOWER, UPPER, strict=True):
        if v <= lo + 1e-9 * max(hi, 1) or v >= hi * (1 - 1e-6):
            print(f"  {n} is at its bound ({v:.4g}): the data do not support more (or less)")
    n_fit = sum(fitted(r) for r in rows)
    print(f"{len(rows)} points ({n_fit} fitted), {len(groups)} sources; median |error| in-sample "
          f"{100 * np.nanmedian(train):.0f} %, cross-validated by source {100 * np.nanmedian(cv):.0f} %")  # fmt: skip
    for regime in REGIMES:
        idx = [i for i, r in enumerate(rows) if r["regime"] == regime]
        print(f"  {regime}: cross-validated median {100 * statistics.median(cv[idx]):.0f} % ({len(idx)} points)")
    if args.per_gpu:
        used = [i for i, r in enumerate(rows) if fitted(r)]
        compare_per_gpu([rows[i] for i in used], theta, cv[used], args.per_gpu, args.weighting)
    if args.write:
        path = ROOT / "llmxl" / "data" / "methods.toml"
        text = path.read_text(encoding="utf-8")
        start = text.index("[serving]")
        end = text.find("\n[serving.", start)  # the tables under [serving] (prefill_scale: benchmarks/fit_load.py)
        block = text[start : end if end >= 0 else len(text)]
        new = (
            "[serving]\n"
            "# Fitted by benchmarks/fit.py to the public measurements under benchmarks/data (TensorRT-LLM,\n"
            "# vLLM, gpt-fast); docs/validation.md shows the error. A GPU entry's own allreduce_latency_s,\n"
            "# layer_overhead_s, prefill_overhead_s, decode_overhead_s, serving_flops_efficiency and\n"
            "# serving_hbm_efficiency take precedence. fitted_gpus: the GPUs of the fitted points; a result on\n"
            "# any other GPU without constants of its own warns that its constants are borrowed.\n"
            + "".join(f"{n} = {(v if v > 1e-12 else 0):.4g}\n" for n, v in zip(NAMES, theta, strict=True))
            + "fitted_gpus = ["
            + ", ".join(f'"{g}"' for g in fitted_gpus(rows))
            + "]\n"
            + f'source = "fitted to {n_fit} public TensorRT-LLM, vLLM and gpt-fast measurements (benchmarks/data) by '
            "benchmarks/fit.py, minimising squared log error with each regime weighing the same; "
            f"cross-validated by source over all {len(rows)} "
            f'points, median error {100 * np.nanmedian(cv):.0f} %"\n'
            f"checked = {datetime.date.today().isoformat()}\n"
        )
        path.write_text(text.replace(block, new), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
