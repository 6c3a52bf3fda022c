"""``llmxl calibrate``: fit the serving constants of a GPU to measurements (see :mod:`llmxl.calibration`)."""

from __future__ import annotations

import json
import sys
from typing import Any

from .calibration import Calibration, calibrate
from .errors import InvalidInputError

__all__ = ["format_calibration", "run_calibrate"]


def _pct(x: float | None) -> str:
    return "n/a (fewer than 3 runs)" if x is None else f"{100 * x:.1f} %"


def format_calibration(cal: Calibration) -> str:
    """What ``llmxl calibrate`` prints: the constants, the errors and each measured figure."""
    runs = len({p["where"] for p in cal.points})
    lines = [
        f"Calibration of {cal.gpu} from {runs} run{'s' if runs != 1 else ''} ({len(cal.points)} measured figures), "
        f"{cal.seconds:.2f} s",
        "",
    ]
    table = [("constant", "default", "fitted", "± 1 s.e. / why kept"), *cal.table()]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines += [
        "",
        f"Median error on these figures: {_pct(cal.error_before)} with the defaults, "
        f"{_pct(cal.error_after)} calibrated;",
        f"cross-validated (each run predicted by a fit to the others): {_pct(cal.error_cross_validated)}",
        "",
    ]
    if cal.error_cross_validated is not None and cal.error_cross_validated > cal.error_before:
        lines[-1:-1] = [
            "note: each run predicted by a fit to the others is further off than with the defaults: the runs",
            "disagree in ways these constants cannot absorb, or one run fewer informs fewer constants. The fit may",
            "not carry over to other configurations; more runs, or fewer constants (--fit), make one that does.",
        ]
    rows = [("run", "figure", "measured", "defaults", "calibrated")]
    for p in cal.points:
        rows.append(
            (
                _short(p["where"]),
                p["metric"],
                f"{p['measured']:.4g}",
                f"{p['before']:.4g} ({100 * (p['before'] / p['measured'] - 1):+.0f} %)",
                f"{p['after']:.4g} ({100 * (p['after'] / p['measured'] - 1):+.0f} %)",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for problem in cal.problems:
        lines.append(f"warning: {problem}")
    return "\n".join(lines)


def _short(where: str, width: int = 48) -> str:
    """A run's label for the table: its file's name without the folders, and the row."""
    label = where.replace("\\", "/").rsplit("/", 1)[-1]
    return label if len(label) <= width else "…" + label[-(width - 1) :]


def run_calibrate(args: Any) -> int:
    from .cli import printable

    fit = [c.strip() for c in args.fit.split(",") if c.strip()] if args.fit else None  # calibrate() checks them
    defaults: dict[str, Any] = {}
    for name in ("model", "gpu", "dtype"):
        if getattr(args, name):
            defaults[name] = getattr(args, name)
    for name in ("tp", "concurrency"):
        value = getattr(args, name)
        if value is not None:
            try:
                defaults[name] = int(value)
            except ValueError:
                raise InvalidInputError(f"--{name} {value!r} must be a whole number", field=name) from None
    from .calibration import read_measurements

    measurements = [m for path in args.files for m in read_measurements(path, format=args.format, **defaults)]
    cal = calibrate(measurements, constants=fit)
    if args.json:
        print(json.dumps(cal.to_dict(), indent=2, allow_nan=False))
    else:
        print(printable(format_calibration(cal)))
    if args.save:
        if cal.problems:
            print(f"llmxl: error: not saved: {printable(cal.problems[0])}", file=sys.stderr)
            return 2
        name = cal.save(args.save, args.catalog, force=args.force)
        print(
            f"saved {name}: use it as the GPU anywhere, e.g. llmxl estimate --gpu {name} ..., "
            f'=LLM_TTFT(model, "{name}", ...)',
            file=sys.stderr if args.json else sys.stdout,
        )
    return 0
