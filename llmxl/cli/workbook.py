"""``llmxl workbook``: a template workbook with live formulas (the published table, or a capacity plan)."""

from __future__ import annotations

import argparse
from typing import Any

from .options import add_plan_options, plan_inputs


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "workbook",
        help="write a template workbook with live formulas",
        description="Write a template workbook whose cells hold live Excel formulas.",
    )
    p.add_argument(
        "template",
        choices=["reference", "plan"],
        help="reference: the published Llama-2-70B table; plan: a capacity plan of the plan options below "
        "(--model, --gpu, --prompt, --completion and --rps at least, as llmxl plan takes them; or --example)",
    )
    p.add_argument("-o", "--output", required=True, help="path of the .xlsx to write")
    p.add_argument("--force", action="store_true", help="overwrite a file llmxl did not write, or one edited since")
    add_plan_options(p, example=True)


def run(args: argparse.Namespace) -> int:
    if args.template == "plan":
        from .plan import run as run_plan

        args.csv = args.json_path = None
        plan_inputs(args)
        return run_plan(args)
    from ..workbook.reference import write_reference_workbook

    path = write_reference_workbook(args.output, force=args.force)
    print(f"wrote {path}")
    return 0
