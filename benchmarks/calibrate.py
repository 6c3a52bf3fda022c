"""How well calibrating on a few of a stack's own measurements predicts its other measurements.

    python benchmarks/calibrate.py

A stack is one publication's points on one GPU (the points benchmarks/measurements.py loads, grouped by
its source_group). For every stack with at least 6 points, llmxl.calibrate is fitted to 4 of them
(every choice of 4, up to 40 drawn at random) and judged on the others. Prints, per
stack, the median absolute error on the held-out points with the catalog defaults and after
calibrating; then, for the one stack of whole runs (NIM's table), each run predicted by a calibration
on the others; and how long a calibration of 20 synthetic measurements takes.
"""

from __future__ import annotations

import itertools
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from measurements import ONE_STACK, calibration_measurement, load, source_group  # noqa: E402

import llmxl  # noqa: E402
from llmxl.calibration import Measurement, _predict, calibrate, read_measurements  # noqa: E402

MIN_POINTS = 6
TRAIN = 4
MAX_SUBSETS = 40


def held_out_error(train: list[Measurement], test: list[Measurement]) -> tuple[float, float, float]:
    """Median error on ``test`` with the defaults, calibrated on ``train``, and as saved: calibrated when llmxl
    would save the fit, the defaults when it reports a problem and refuses (as a user following it ends up)."""
    cal = calibrate(train, cross_validate=False)  # its problems (bounds, convergence) do not need the leave-one-out
    base = llmxl.get_gpu(cal.gpu)
    errs_before, errs_after = [], []
    for m in test:
        for metric, value in m.metrics.items():
            errs_before.append(abs(_predict(m, base)[metric] / value - 1))
            errs_after.append(abs(_predict(m, cal.spec)[metric] / value - 1))
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
        after = [abs(_predict(m, cal.spec)[k] / v - 1) for k, v in m.metrics.items()]
        before_all += before
        after_all += after
        rows.append((m.concurrency or m.batch_size or 0, statistics.median(before), statistics.median(after)))
    return rows, statistics.median(before_all), statistics.median(after_all)


def main() -> int:
    print(f"Calibrating on {TRAIN} points of a stack, judged on its other points (median |error|)\n")
    print(f"{'stack':<44} {'GPU':<16} {'points':>6} {'subsets':>7} {'defaults':>9} {'calibrated':>10} {'as saved':>9}")
    summary = stack_results()
    for group, gpu, n, tried, mb, ma, ms in summary:
        label = group if len(group) <= 44 else group[:20] + "…" + group[-23:]
        print(f"{label:<44} {gpu:<16} {n:>6} {tried:>7} {100 * mb:>8.1f}% {100 * ma:>9.1f}% {100 * ms:>8.1f}%")
    print(
        f"\nmedian over stacks: defaults {100 * statistics.median(s[4] for s in summary):.1f} %, "
        f"calibrated {100 * statistics.median(s[5] for s in summary):.1f} %, "
        f"as saved {100 * statistics.median(s[6] for s in summary):.1f} %"
    )

    rows, before, after = one_stack_results()
    print(f"\none stack ({ONE_STACK.name}): each run predicted by a calibration on the {len(rows) - 1} others")
    for conc, b, a in rows:
        print(f"  concurrency {conc:>4}: defaults {100 * b:5.1f} %, calibrated {100 * a:5.1f} %")
    print(f"  median over the held-out figures: defaults {100 * before:.1f} %, calibrated {100 * after:.1f} %\n")

    # Speed: 20 synthetic measurements (3 figures each) generated by the engine, with cross-validation.
    g = llmxl.get_gpu("h100-sxm-80gb")
    synthetic = []
    for model, tp in (("llama-3.1-8b", 1), ("llama-3.1-70b", 4)):
        for conc in (1, 4, 16, 64, 128):
            for s, n in ((512, 128), (2048, 256)):
                figures = dict.fromkeys(("ttft_s", "tpot_s", "output_tokens_per_s"), 1.0)
                m = Measurement(model=model, gpu=g.id, tp=tp, dtype="fp8", prompt_tokens=s, completion_tokens=n,
                                concurrency=conc, metrics=figures)  # fmt: skip
                synthetic.append(Measurement(**{**m.__dict__, "metrics": _predict(m, g)}))
    times = []
    for _ in range(3):
        t = time.perf_counter()
        calibrate(synthetic[:20])
        times.append(time.perf_counter() - t)
    print(f"calibrating 20 measurements (60 figures, leave-one-out included): {min(times):.2f} s (best of 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
