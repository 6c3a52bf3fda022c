"""``llmxl workbook``: a template workbook with live formulas (the published table, a capacity plan, or a
procurement comparison of GPUs, price bases and APIs)."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InvalidInputError
from .options import add_disaggregated_option, add_plan_options, plan_inputs


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "workbook",
        help="write a template workbook with live formulas",
        description="Write a template workbook whose cells hold live Excel formulas.",
    )
    p.add_argument(
        "template",
        choices=["reference", "plan", "compare"],
        help="reference: the published Llama-2-70B table; plan: a capacity plan of the plan options below "
        "(--model, --gpu, --prompt, --completion and --rps at least, as llmxl plan takes them; or --example); "
        "compare: the same options, each GPU on demand, reserved (--discount, default 0.3) and owned (--owned) "
        "at its cheapest tp, with the break-even against each --api (default: every provider pricing the model)",
    )
    p.add_argument("-o", "--output", required=True, help="path of the .xlsx to write")
    p.add_argument("--force", action="store_true", help="overwrite a file llmxl did not write, or one edited since")
    add_plan_options(p, example=True, workbook=True)
    add_disaggregated_option(p)


def run(args: argparse.Namespace) -> int:
    if args.template != "plan" and args.disaggregated != "no":
        raise InvalidInputError(
            f"--disaggregated is a plan's; llmxl workbook {args.template} plans aggregated replicas only: use "
            "llmxl workbook plan (or llmxl plan) with it",
            field="disaggregated",
        )
    if args.template == "compare":
        if args.prefix_cache_hit is not None:
            raise InvalidInputError(
                "workbook compare does not take --prefix-cache-hit yet (its API columns bill every prompt token at "
                "the prompt price); use workbook plan or llmxl plan with it",
                field="prefix_cache_hit",
            )
        return _run_compare(args)
    if args.template == "plan":
        from .plan import run as run_plan

        if args.api is not None and len(args.api) > 1:
            raise InvalidInputError(
                "workbook plan compares with one API; give --api once (workbook compare takes several)", field="api"
            )
        args.api = args.api[0] if args.api else None
        args.discount = "0" if args.discount is None else args.discount
        args.csv = args.json_path = None
        plan_inputs(args)
        return run_plan(args)
    from ..workbook.reference import write_reference_workbook

    path = write_reference_workbook(args.output, force=args.force)
    print(f"wrote {path}")
    return 0


def _apis(texts: list[str] | None) -> list[Any] | None:
    """--api, repeated: provider names, or PROMPT,COMPLETION USD per 1M tokens."""
    if not texts:
        return None
    out: list[Any] = []
    for text in texts:
        parts = [x.strip() for x in str(text).split(",")]
        if len(parts) == 1:
            out.append(parts[0])
        elif len(parts) == 2 and all(parts):
            out.append(tuple(parts))
        else:
            raise InvalidInputError(
                f"--api takes a provider (together) or PROMPT,COMPLETION USD per 1M tokens (0.88,0.88), got {text!r}",
                field="api",
            )
    return out


def _run_compare(args: argparse.Namespace) -> int:
    from ..checks import check_count
    from ..outputs import check_outputs, output_lock
    from ..plan import traffic
    from ..resolve import resolve_model
    from ..workbook.compare import DEFAULT_DISCOUNT, write_compare_workbook
    from .output import printable
    from .plan import _list, candidate_options

    if getattr(args, "speculative", None) is not None:
        raise InvalidInputError(
            "workbook compare does not take --speculative yet; use llmxl workbook plan (or llmxl plan) for a "
            "speculative decoder",
            field="speculative",
        )
    api_given = args.api
    plan_inputs(args, "llmxl workbook compare")
    args.api = api_given  # the example's API is the plan workbook's; a comparison takes every provider
    gpus = [g for text in args.gpu for g in _list(text)]
    model = resolve_model(args.model)
    s, n = check_count(args.prompt, "prompt_tokens"), check_count(args.completion, "completion_tokens")
    avg, peak = traffic(s, n, args.rps, args.tokens_per_day, args.peak_rps, args.peak_factor)
    options = dict(
        prompt_tokens=s,
        completion_tokens=n,
        requests_per_s=avg,
        peak_requests_per_s=peak,
        ttft_s_max=args.ttft,
        itl_s_max=args.itl,
        **candidate_options(args, gpus),
        reservation_discount=DEFAULT_DISCOUNT if args.discount is None else args.discount,
        apis=_apis(args.api),
    )
    check_outputs([("-o", args.output, (".xlsx",))], args.force)
    with output_lock([args.output]):
        path = write_compare_workbook(args.output, model, gpus, force=args.force, **options)
    print(f"wrote {printable(str(path))}")
    return 0
