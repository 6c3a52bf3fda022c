"""``llmxl report``: a workbook (and optional CSV/JSON) for a sweep of scenarios."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .options import add_scenario_options
from .output import Progress, plural, printable

#: Most scenarios a report builds unless told otherwise (--max-scenarios). Measured here: 50,000 took 37 s and
#: 3.0 GB of memory, so 100,000 takes about 75 s and 6 GB.
MAX_SCENARIOS = 100_000


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write a workbook report for a sweep of scenarios",
        description="Write a workbook (and optionally CSV/JSON) for the cartesian product "
        "of the listed models, GPUs, batch sizes and token counts.",
    )
    p.add_argument("--model", action="append", required=True, help="model (repeat, or comma-separate, for several)")
    p.add_argument("--gpu", action="append", required=True, help="GPU (repeat for several)")
    add_scenario_options(p, lists=True)
    p.add_argument("-o", "--output", help="path of the .xlsx to write")
    p.add_argument("--csv", help="also write the rows, computed by the Python engine, as CSV; - for stdout")
    p.add_argument(
        "--json", dest="json_path", help="also write the rows, computed by the Python engine, as JSON; - for stdout"
    )
    p.add_argument("--force", action="store_true", help="overwrite files llmxl did not write, or ones edited since")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    p.add_argument(
        "--max-scenarios",
        help="refuse reports larger than this many scenarios (default 100,000: about 75 s and 6 GB of memory)",
    )


def run(args: argparse.Namespace) -> int:
    from ..checks import check_count
    from ..outputs import check_outputs, output_lock
    from ..workbook.report import Sweep

    if not (args.output or args.csv or args.json_path):
        raise InvalidInputError("report needs somewhere to write: give -o report.xlsx, --csv or --json", field="output")
    sweep = Sweep(args)
    cap = check_count(getattr(args, "max_scenarios", None) or MAX_SCENARIOS, "max_scenarios")
    if sweep.size > cap:
        raise InvalidInputError(
            f"the report would hold {sweep.size:,} scenarios, more than the limit of {cap:,}; "
            "narrow the lists or raise the limit with --max-scenarios",
            field="max_scenarios",
        )
    flags = [("-o", args.output, (".xlsx",)), ("--csv", args.csv, (".csv",)), ("--json", args.json_path, (".json",))]
    check_outputs(flags, args.force)
    with output_lock([p for _, p, _ in flags]):
        return _write_report(args, sweep)


def failure_summary(rows: list[dict[str, Any]]) -> list[str]:
    """The scenarios that did not compute, grouped by reason (numbers aside), one example each."""
    import re

    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["status"] != "ok":
            key = re.sub(r"\d[\d.,]*", "#", row["status"].split(";")[0])
            groups.setdefault(key, []).append(row)
    lines = []
    for members in sorted(groups.values(), key=len, reverse=True):
        r = members[0]
        lines.append(
            f"  {plural(len(members), 'scenario')}, e.g. {r['model']} on {r['gpu']}, batch {r['batch_size']}, "
            f"prompt {r['prompt_tokens']}, completion {r['completion_tokens']}: {r['status']}"
        )
    return lines


def _write_report(args: Any, sweep: Any) -> int:
    from ..outputs import csv_text, json_text, write_csv, write_json
    from ..workbook.files import gc_paused, save_workbook
    from ..workbook.report import ROW_KEYS, build_report_workbook

    rows = sweep.engine_rows()
    failed = sum(1 for r in rows if r["status"] != "ok")
    # "-" sends the CSV or JSON to standard output; what llmxl says about it then goes to standard error
    note = sys.stderr if "-" in (args.csv, args.json_path) else sys.stdout
    for path, as_csv in ((args.csv, True), (args.json_path, False)):
        if not path:
            continue
        if path == "-":
            print(csv_text(rows, ROW_KEYS) if as_csv else json_text(rows), end="")
            continue
        if as_csv:
            write_csv(rows, Path(path), args.force, ROW_KEYS)
        else:
            write_json(rows, Path(path), args.force)
        print(f"wrote {printable(path)} ({plural(len(rows), 'row')})", file=note)
    if args.output:
        progress = Progress(sweep.size, "building", not args.no_progress)
        with gc_paused():
            wb = build_report_workbook(sweep, progress, [r["status"] for r in rows])
            save_workbook(wb, args.output, force=args.force)
        print(f"wrote {printable(args.output)} ({plural(sweep.size, 'scenario')})", file=note)
    if failed:
        print(
            f"llmxl: {failed:,} of {plural(len(rows), 'scenario')} did not compute; each row says why:",
            file=sys.stderr,
        )
        for line in failure_summary(rows):
            print(printable(line), file=sys.stderr)
    if failed == len(rows):
        print("llmxl: error: no scenario computed; see the reasons above", file=sys.stderr)
        return 2
    return 0
