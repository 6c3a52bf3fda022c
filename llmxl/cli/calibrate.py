"""``llmxl calibrate``: fit the serving constants of a GPU to measurements (see :mod:`llmxl.calibration`)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from .options import add_engine_option
from .output import columns, printable

if TYPE_CHECKING:
    from ..calibration import Calibration

__all__ = ["format_calibration", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit the serving constants of a GPU, and the engine's front-end time and reserve, to your measurements",
        description="Fit the serving method's constants (efficiencies, overheads, all-reduce latency) of one GPU, "
        "and the engine's front-end time and memory reserve, to measurements: a plain CSV (columns model, gpu, tp, "
        "dtype, prompt_tokens, completion_tokens, batch_size or concurrency or request_rate, and any of ttft_s, "
        "tpot_s, e2e_s, output_tokens_per_s and percentiles such as ttft_p90_s, itl_p99_s), result JSONs of "
        "vllm bench serve --save-result (their median and percentile TTFT and ITL too), or genai-perf's "
        "profile_export_genai_perf.csv. With --save NAME, the GPU's constants become the GPU <gpu>@NAME in your "
        "user catalog, usable everywhere; the engine's fitted settings print as an --engine value.",
    )
    p.add_argument("files", nargs="+", help="measurement files")
    p.add_argument("--format", default="auto", choices=["auto", "csv", "vllm", "genai-perf"],
                   help="file format (default: .json is vLLM, a first line 'Metric,' genai-perf)")  # fmt: skip
    p.add_argument("--model", help="model, where the file does not name it")
    p.add_argument("--gpu", help="GPU the measurements ran on, where the file does not name it (vLLM, genai-perf)")
    p.add_argument("--tp", help="tensor-parallel size, where the file does not give it (a plain CSV: default 1; "
                   "vllm bench serve records none: give it, or its --metadata tp=N)")  # fmt: skip
    p.add_argument("--dtype", help="dtype, where the file does not give it (default w16a16e16)")
    p.add_argument("--concurrency", help="concurrency of a genai-perf run (its CSV does not record it)")
    add_engine_option(p)
    p.add_argument("--fit", help="comma-separated constants to fit, of the GPU's and front_end_s, reserve_gib "
                   "(default: every one the measurements inform)")  # fmt: skip
    p.add_argument("--save", metavar="NAME", help="save as the GPU <gpu>@NAME in the user catalog")
    p.add_argument("--catalog", help="catalog file to save to (default: LLMXL_CATALOG's first file, or "
                   "~/.config/llmxl/catalog.toml)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace a saved calibration of the same name")
    p.add_argument("--json", action="store_true", help="print the calibration as JSON")


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
    lines += columns(table, indent="  ")
    lines += [
        "",
        f"Median error on these figures: {_pct(cal.error_before)} with the defaults, "
        f"{_pct(cal.error_after)} calibrated;",
        f"cross-validated (each run predicted by a fit to the others): {_pct(cal.error_cross_validated)}",
        "",
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
    lines += columns(rows, indent="  ")
    lines += [f"note: {note}" for note in cal.notes]
    if cal.engine_override:
        lines += [
            "",
            f"Engine settings fitted: {cal.engine_override}",
            f"  use them with the GPU: --engine {cal.engine_override} (engine= in Python, a cell's engine argument)",
        ]
    if cal.problems:
        lines += ["", "Not offered: this fit is not saved, and the defaults stay in use, because"]
        lines += [f"  - {problem}" for problem in cal.problems]
        if cal.suggested_constants:
            lines.append(f"Try: llmxl calibrate ... --fit {','.join(cal.suggested_constants)}")
        elif any("fewer constants" in p for p in cal.problems) and len(cal.fitted) > 1:
            lines.append(f"Try fewer constants, e.g. --fit {','.join(cal.fitted[:2])}")
    return "\n".join(lines)


def _short(where: str, width: int = 48) -> str:
    """A run's label for the table: its file's name without the folders, and the row."""
    label = where.replace("\\", "/").rsplit("/", 1)[-1]
    return label if len(label) <= width else "…" + label[-(width - 1) :]


def run(args: Any) -> int:
    from ..calibration import calibrate, read_measurements
    from ..checks import check_count

    fit = [c.strip() for c in args.fit.split(",") if c.strip()] if args.fit else None  # calibrate() checks them
    defaults: dict[str, Any] = {}
    for name in ("model", "gpu", "dtype"):
        if getattr(args, name):
            defaults[name] = getattr(args, name)
    for name in ("tp", "concurrency"):
        value = getattr(args, name)
        if value is not None:  # as every other count: 8, 8.0 or 1e2, never 8.5
            defaults[name] = check_count(value, name)
    measurements = [m for path in args.files for m in read_measurements(path, format=args.format, **defaults)]
    cal = calibrate(measurements, constants=fit, engine=args.engine)
    if args.json:
        print(json.dumps(cal.to_dict(), indent=2, allow_nan=False))
    else:
        print(printable(format_calibration(cal)))
    if args.save:
        if cal.problems:
            hint = f" (try --fit {','.join(cal.suggested_constants)})" if cal.suggested_constants else ""
            print(f"llmxl: error: not saved: {printable(cal.problems[0])}{hint}", file=sys.stderr)
            return 2
        name = cal.save(args.save, args.catalog, force=args.force)
        engine = f" --engine {cal.engine_override}" if cal.engine_override else ""
        print(
            f"saved {name}: use it as the GPU anywhere, e.g. llmxl estimate --gpu {name} ..., "
            f'=LLM_TTFT(model, "{name}", ...); llmxl plan --gpu {name}{engine} ...',
            file=sys.stderr if args.json else sys.stdout,
        )
    return 0
