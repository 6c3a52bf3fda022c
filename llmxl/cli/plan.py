"""``llmxl plan``: capacity and cost of service at the command line (see :mod:`llmxl.plan`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from .options import add_plan_options
from .output import columns, money, number, printable, rate

if TYPE_CHECKING:
    from ..plan import Breakeven, Plan

__all__ = ["format_plan", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="GPUs, monthly cost and $/1M tokens for a traffic and a latency target",
        description="Plan capacity with the serving method: every candidate configuration (GPU, tp, dtype) "
        "with the concurrency that meets the latency target, the replicas the peak needs, the monthly cost "
        "and the cost per 1M tokens; the cheapest first. With --api, the traffic at which self-hosting "
        "costs less than the API.",
    )
    add_plan_options(p, example=False)
    p.add_argument("-o", "--output", help="also write the plan as a live-formula workbook (.xlsx)")
    p.add_argument("--csv", help="also write every candidate as CSV; - for stdout")
    p.add_argument("--json", dest="json_path", help="also write the plan (and break-even) as JSON; - for stdout")
    p.add_argument("--force", action="store_true", help="overwrite files llmxl did not write, or ones edited since")


def _list(text: str | None) -> list[str]:
    return [] if text is None else [p.strip() for p in str(text).split(",") if p.strip()]


def _owned(text: str | None) -> Any:
    if text is None:
        return None
    parts = _list(text)
    if len(parts) == 1:
        return parts[0]
    names = ("purchase_usd", "years", "power_kw", "pue", "usd_per_kwh", "other_usd_per_year")
    if not 5 <= len(parts) <= 6:
        raise InvalidInputError(
            f"--owned takes USD per GPU-hour or {','.join(n.upper() for n in names)} (5 or 6 numbers), "
            f"got {len(parts)}",
            field="owned",
        )
    return dict(zip(names, parts, strict=False))


def _api(text: str | None) -> Any:
    parts = _list(text)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts


def format_plan(p: Plan, b: Breakeven | None = None) -> str:
    """The plan as a newcomer reads it: the recommendation, then every candidate, then what cannot work."""
    lines = [
        f"{p.model}: {p.prompt_tokens:,} prompt + {p.completion_tokens:,} completion tokens per request, "
        f"{p.requests_per_s:,.4g} requests/s on average, {p.peak_requests_per_s:,.4g} at peak",
        "target: "
        + (
            ", ".join(
                t
                for t in (
                    None if p.ttft_s_max is None else f"time to first token ≤ {p.ttft_s_max:g} s",
                    None if p.itl_s_max is None else f"inter-token latency ≤ {p.itl_s_max:g} s",
                )
                if t
            )
            or "none (throughput only)"
        ),
        "",
    ]
    best = p.best
    if best is None:
        lines.append("No configuration meets the target; each candidate below says why.")
    else:
        lines.append(
            f"Recommended: {best.num_gpus} × {best.gpu} ({best.replicas} "
            f"{'replica' if best.replicas == 1 else 'replicas'} of tp={best.tp}"
            f"{f', pp={best.pp}' if best.pp > 1 else ''}, {best.dtype}) at concurrency {best.concurrency}: "
            f"{money(best.monthly_usd)} per month at {money(best.gpu_hour_usd)} per GPU-hour; "
            f"{money(best.usd_per_1m_prompt_tokens, 3)} / {money(best.usd_per_1m_completion_tokens, 3)} per 1M "
            f"prompt / completion tokens ({money(best.usd_per_1m_blended, 3)} blended 3:1)"
        )
    ok = [r for r in p.rows if r.reason is None]
    if ok:
        header = ("GPU", "tp", "dtype", "concurrency", "replicas", "GPUs", "use", "$/month", "$/1M in",
                  "$/1M out", "$/1M blend", "TTFT s", "ITL s")  # fmt: skip
        table = [header] + [
            (
                r.gpu,
                str(r.tp) if r.pp == 1 else f"{r.tp}×pp{r.pp}",
                r.dtype,
                str(r.concurrency),
                str(r.replicas),
                str(r.num_gpus),
                f"{r.utilisation:.0%}",
                money(r.monthly_usd, 0),
                money(r.usd_per_1m_prompt_tokens, 3),
                money(r.usd_per_1m_completion_tokens, 3),
                money(r.usd_per_1m_blended, 3),
                number(r.ttft_s, ".3f"),
                number(r.itl_s, ".4f"),
            )
            for r in ok
        ]
        lines.append("")
        lines += columns(table, right=frozenset({1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), indent="  ")
    bad = [r for r in p.rows if r.reason is not None]
    if bad:
        lines += ["", f"Cannot serve this ({len(bad)} candidate{'s' if len(bad) != 1 else ''}):"]
        lines += [f"  {r.gpu} tp={r.tp} {r.dtype}: {r.reason}" for r in bad]
    if b is not None:
        from ..plan import api_monthly_usd

        lines.append("")
        api_month = api_monthly_usd(p.requests_per_s, p.prompt_tokens, p.completion_tokens, b.prompt_usd_per_1m,
                                    b.completion_usd_per_1m)  # fmt: skip
        lines.append(
            f"API {b.api}: {rate(b.prompt_usd_per_1m)} / {rate(b.completion_usd_per_1m)} per 1M prompt / completion "
            f"tokens, {money(api_month)} per month at {p.requests_per_s:,.4g} requests/s"
        )
        if b.requests_per_s is None:
            lines.append(f"Break-even: none; {b.reason}")
        else:
            r = b.row
            lines.append(
                f"Break-even: self-hosting costs less above {b.requests_per_s:,.4g} requests/s on average "
                f"({r.num_gpus} × {r.gpu}, tp={r.tp}, {r.dtype}: {money(b.monthly_usd)} per month; "
                f"peak {b.peak_factor:g} × average)"
            )
    return "\n".join(lines)


def run(args: Any) -> int:
    from ..outputs import check_outputs, output_lock

    gpus = [g for text in args.gpu for g in _list(text)]
    tps = _list(args.tp) or None
    options = dict(
        prompt_tokens=args.prompt,
        completion_tokens=args.completion,
        ttft_s_max=args.ttft,
        itl_s_max=args.itl,
        tp=tps,
        dtype=_list(args.dtype) or None,
        max_concurrency=args.max_concurrency,
        gpu_hour_usd=args.gpu_hour_usd,
        reservation_discount=args.discount,
        owned=_owned(args.owned),
    )
    xlsx = getattr(args, "output", None)
    flags = [("-o", xlsx, (".xlsx",)), ("--csv", args.csv, (".csv",)), ("--json", args.json_path, (".json",))]
    check_outputs(flags, args.force)
    with output_lock([path for _, path, _ in flags]):
        return _run(args, gpus, options, xlsx)


def _run(args: Any, gpus: list[str], options: dict[str, Any], xlsx: str | None) -> int:
    from ..checks import check_count, check_range
    from ..outputs import csv_text, json_text, write_csv, write_json
    from ..plan import ROW_FIELDS, breakeven, plan
    from ..prices import check_fraction_below_one
    from ..resolve import resolve_model

    model = resolve_model(args.model)  # once: a config.json is read once, and the workbook gets its figures
    p = plan(
        model,
        gpus,
        requests_per_s=args.rps,
        tokens_per_day=args.tokens_per_day,
        peak_requests_per_s=args.peak_rps,
        peak_factor=args.peak_factor,
        **options,
    )
    b = None
    api = _api(args.api)
    if api is not None:
        b = breakeven(model, gpus, api=api, peak_factor=p.peak_requests_per_s / p.requests_per_s, **options)
    to_stdout = "-" in (args.json_path, args.csv)
    if args.json_path == "-":
        print(json_text(_document(p, b)), end="")
    elif args.csv != "-":
        print(printable(format_plan(p, b)))
    note = sys.stderr if to_stdout else sys.stdout
    if args.csv == "-":
        print(csv_text(p.to_rows(), ROW_FIELDS), end="")
    elif args.csv:
        write_csv(p.to_rows(), Path(args.csv), args.force, ROW_FIELDS)
        print(f"wrote {printable(args.csv)}", file=note)
    if args.json_path and args.json_path != "-":
        write_json(_document(p, b), Path(args.json_path), args.force)
        print(f"wrote {printable(args.json_path)}", file=note)
    if xlsx:
        from ..workbook.plan import write_plan_workbook

        names = (b.api, b.prompt_usd_per_1m, b.completion_usd_per_1m) if b is not None else ("", None, None)
        owned = options["owned"]
        path = write_plan_workbook(
            xlsx,
            p,
            force=args.force,
            api=names,
            gpu_hour_usd=None if args.gpu_hour_usd is None else check_range(args.gpu_hour_usd, "gpu_hour_usd"),
            reservation_discount=check_fraction_below_one(args.discount, "reservation_discount"),
            owned=owned if isinstance(owned, dict) else None,
            max_concurrency=None
            if args.max_concurrency is None
            else check_count(args.max_concurrency, "max_concurrency"),
            model=model,
        )
        print(f"wrote {printable(str(path))} ({len(p.rows)} candidate configurations)", file=note)
    return 0


def _document(p: Plan, b: Breakeven | None) -> dict[str, Any]:
    out = p.to_dict()
    out["breakeven"] = None if b is None else b.to_dict()
    return out
