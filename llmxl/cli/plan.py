"""``llmxl plan``: capacity and cost of service at the command line (see :mod:`llmxl.plan`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from .options import DISAGGREGATED, add_disaggregated_option, add_layout_options, add_plan_options, speculative_options
from .output import columns, money, number, printable, rate, significant

if TYPE_CHECKING:
    from ..breakeven import Breakeven
    from ..frontier import Frontier
    from ..plan import Plan

__all__ = ["format_frontier", "format_plan", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="GPUs, monthly cost and $/1M tokens for a traffic and a latency target",
        description="Plan capacity with the serving method: every candidate configuration (GPU, tp, dtype) "
        "with the concurrency that meets the latency target, the replicas the peak needs, the monthly cost, "
        "the cost per 1M tokens and the energy and emissions per 1M tokens; the cheapest first. With --api, "
        "the traffic at which self-hosting costs less than the API. With --frontier, the cost against output "
        "tokens/s per user over concurrency instead.",
        epilog="Exit status: 0 when a configuration meets the target (with --frontier: when one can serve), "
        "1 when none does (the output says why for each candidate; files asked for are still written), "
        "2 on bad input.",
    )
    add_plan_options(p, example=False, frontier=True)
    add_layout_options(p, lists=True)
    add_disaggregated_option(p)
    p.add_argument(
        "-o",
        "--output",
        help="also write the plan (with --frontier: the frontier and its chart) as a live-formula workbook (.xlsx)",
    )
    p.add_argument("--csv", help="also write every candidate (with --frontier: every point) as CSV; - for stdout")
    p.add_argument("--json", dest="json_path", help="also write the plan (and break-even) as JSON; - for stdout")
    p.add_argument("--force", action="store_true", help="overwrite files llmxl did not write, or ones edited since")


#: Exit status when no configuration meets the target (bad input exits 2, as every llmxl error).
EXIT_NONE_MEETS = 1

_OWNED_NAMES = ("purchase_usd", "years", "power_kw", "pue", "usd_per_kwh", "other_usd_per_year")
_MAY_BE_EMPTY = frozenset({"power_kw", "pue"})


def _list(text: str | None) -> list[str]:
    return [] if text is None else [p.strip() for p in str(text).split(",") if p.strip()]


def _by_gpu(texts: list[str] | None, option: str, one: str, pairs: str, gpus: list[str]) -> Any:
    """One value for every GPU ("3.99"), or GPU=VALUE pairs ("h100-sxm-80gb=2.0,b200=7.0") as a dict."""
    parts = [p.strip() for text in texts or [] for p in str(text).split(",") if p.strip()]
    if not parts:
        return None
    named = [p for p in parts if "=" in p]
    if not named and len(parts) == 1:
        return parts[0]
    if len(named) != len(parts):
        hint = ""
        if not named and len(parts) == len(gpus):
            hint = f"; for these GPUs: {','.join(f'{g}={v}' for g, v in zip(gpus, parts, strict=True))}"
        raise InvalidInputError(
            f"{option} takes one value for every GPU ({one}) or GPU=VALUE pairs ({pairs}), "
            f"got {','.join(parts)!r}{hint}",
            field=option.lstrip("-").replace("-", "_"),
        )
    out: dict[str, str] = {}
    for part in named:
        name, _, value = (x.strip() for x in part.partition("="))
        if not name or not value:
            raise InvalidInputError(f"{option}: {part!r} needs a GPU and a value, as in {pairs}", field=option)
        if name in out:
            raise InvalidInputError(f"{option} names {name!r} twice; keep one", field=option)
        out[name] = value
    return out


def _owned_costs(text: str) -> Any:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1 and parts[0]:
        return parts[0]
    if not 5 <= len(parts) <= 6:
        raise InvalidInputError(
            f"--owned takes USD per GPU-hour or {','.join(n.upper() for n in _OWNED_NAMES)} (5 or 6 numbers, "
            f"POWER_KW and PUE may be empty), got {len([p for p in parts if p])}",
            field="owned",
        )
    out = {}
    for name, value in zip(_OWNED_NAMES, parts, strict=False):
        if value:
            out[name] = value
        elif name not in _MAY_BE_EMPTY:
            raise InvalidInputError(
                f"--owned: {name.upper()} is empty; only POWER_KW and PUE may be left empty", field="owned"
            )
    return out


def _owned(texts: list[str] | None) -> Any:
    """--owned, given once for every GPU or once per GPU as GPU=COSTS."""
    if not texts:
        return None
    named = [t for t in texts if "=" in t]
    if not named:
        if len(texts) > 1:
            raise InvalidInputError(
                "--owned is given more than once for every GPU; give it once, or once per GPU as GPU=COSTS",
                field="owned",
            )
        return _owned_costs(texts[0])
    if len(named) != len(texts):
        raise InvalidInputError(
            "--owned mixes costs for every GPU with costs by GPU; give GPU=COSTS for each GPU instead",
            field="owned",
        )
    out: dict[str, Any] = {}
    for text in named:
        name, _, costs = (x.strip() for x in text.partition("="))
        if not name:
            raise InvalidInputError(f"--owned {text!r} needs a GPU before '='", field="owned")
        if name in out:
            raise InvalidInputError(f"--owned names {name!r} twice; keep one", field="owned")
        out[name] = _owned_costs(costs)
    return out


def _api(text: str | None) -> Any:
    parts = _list(text)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts


def _speculative_line(p: Plan) -> str:
    from ..speculative import tokens_per_step

    alpha, k = p.acceptance_rate, p.num_speculative_tokens
    tokens = f"{k} draft token" + ("s" if k != 1 else "")
    tau = tokens_per_step(alpha, k)  # type: ignore[arg-type]
    return f"speculative decoding: {p.speculative}, {tokens}, acceptance rate {alpha:.4g} ({tau:.4g} tokens per step)"


def _dp_ep(r: Any) -> str:
    """ ", dp=8, ep=8" for a row of an expert/data-parallel layout; nothing for tp and pp alone."""
    return f", dp={r.dp}, ep={r.ep}" if r.dp > 1 or r.ep > 1 else ""


def _tp_text(tp: Any, dp: Any, ep: Any, pp: int) -> str:
    """ "2", "2×pp2" or "1 dp8 ep8": a layout in the plan's table."""
    return (str(tp) if pp == 1 else f"{tp}×pp{pp}") + (f" dp{dp} ep{ep}" if dp > 1 or ep > 1 else "")


def _mode_text(r: Any) -> str:
    """ "aggregated", or "3P2D": x prefill and y decode instances."""
    return f"{r.prefill_replicas}P{r.decode_replicas}D" if r.mode == "disaggregated" else "aggregated"


def _fleet_text(r: Any) -> str:
    """ "4 replicas of tp=2", or "3 prefill instances of tp=1 and 2 decode instances of tp=2" (disaggregated)."""
    if r.mode != "disaggregated":
        return f"{r.replicas} {'replica' if r.replicas == 1 else 'replicas'} of tp={r.tp}{_dp_ep(r)}"
    x, y = r.prefill_replicas, r.decode_replicas
    pre = f"tp={r.prefill_tp}" + (
        f", dp={r.prefill_dp}, ep={r.prefill_ep}" if r.prefill_dp > 1 or r.prefill_ep > 1 else ""
    )
    return (f"{x} prefill {'instance' if x == 1 else 'instances'} of {pre} and {y} decode "
            f"{'instance' if y == 1 else 'instances'} of tp={r.tp}{_dp_ep(r)}, KV cache over the {r.kv_link} link in "
            f"{r.kv_transfer_s:.3g} s")  # fmt: skip


def format_plan(p: Plan, b: Breakeven | None = None, dtype_note: str | None = None) -> str:
    """The plan as a newcomer reads it: the recommendation, then every candidate, then what cannot work.

    ``dtype_note`` names the dtype when the user gave none (e.g. "dtype mxfp4 (as released)").
    """
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
        )
        + (f", at p{p.percentile:g}" if p.ttft_s_max is not None or p.itl_s_max is not None else "")
        + (f"; engine {_engine_text(p.engine)}" if p.engine else ""),
        *(
            [f"prefix cache: {p.prefix_cache_hit:g} of each prompt's tokens served from it"]
            if p.prefix_cache_hit
            else []
        ),
        *([dtype_note] if dtype_note else []),
        *([_speculative_line(p)] if p.speculative is not None else []),
        "",
    ]
    best = p.best
    if best is None:
        lines.append("No configuration meets the target; each candidate below says why.")
    else:
        lines.append(
            f"Recommended: {best.num_gpus} × {best.gpu} ({_fleet_text(best)}"
            f"{f', pp={best.pp}' if best.pp > 1 else ''}, {best.dtype}) at concurrency {best.concurrency}: "
            f"{money(best.monthly_usd)} per month at {money(best.gpu_hour_usd)} per GPU-hour"
            f"{_BASIS.get(best.price_basis or '', '')}; "
            f"{money(best.usd_per_1m_prompt_tokens, 3)} / {money(best.usd_per_1m_completion_tokens, 3)} per 1M "
            f"prompt / completion tokens ({money(best.usd_per_1m_blended, 3)} blended 3:1)"
        )
        lines.append(_energy_line(best, p.grid_g_co2e_per_kwh))
    if p.mode_note is not None:
        lines.append(f"Aggregated or disaggregated: {p.mode_note}")
    modes = p.disaggregated is not False
    ok = [r for r in p.rows if r.reason is None]
    if ok:
        at = f"p{p.percentile:g}" if p.percentile is not None else ""
        header = ("GPU", "tp", "dtype", "concurrency", "replicas", "GPUs", "use", "peak", "$/GPU-h", "$/month",
                  "$/1M in", "$/1M out", "$/1M blend", "kWh/1M", "kgCO2e/1M", f"TTFT {at} s",
                  f"ITL {at} s")  # fmt: skip
        header = (("mode",) if modes else ()) + header
        table = [header] + [
            (
                *((_mode_text(r),) if modes else ()),
                r.gpu,
                (f"{_tp_text(r.prefill_tp, r.prefill_dp, r.prefill_ep, r.pp)}/" if r.mode == "disaggregated" else "")
                + _tp_text(r.tp, r.dp, r.ep, r.pp),
                r.dtype,
                str(r.concurrency),
                str(r.replicas),
                str(r.num_gpus),
                f"{r.utilisation:.0%}",
                f"{r.peak_utilisation:.0%}",
                money(r.gpu_hour_usd),
                money(r.monthly_usd, 0),
                money(r.usd_per_1m_prompt_tokens, 3),
                money(r.usd_per_1m_completion_tokens, 3),
                money(r.usd_per_1m_blended, 3),
                "n/a" if r.kwh_per_1m_tokens is None else significant(r.kwh_per_1m_tokens, 3),
                "n/a" if r.kg_co2e_per_1m_tokens is None else significant(r.kg_co2e_per_1m_tokens, 3),
                number(r.ttft_s, ".3f"),
                number(r.itl_s, ".4f"),
            )
            for r in ok
        ]
        lines.append("")
        first = 1 + modes
        lines += columns(table, right=frozenset(range(first, len(header))) - {first + 1}, indent="  ")
    bad = [r for r in p.rows if r.reason is not None]
    if bad:
        lines += ["", f"Cannot serve this ({len(bad)} candidate{'s' if len(bad) != 1 else ''}):"]
        lines += [f"  {r.gpu} {'decode ' if r.mode == 'disaggregated' else ''}tp={r.tp}{_dp_ep(r)} {r.dtype}: "
                  f"{r.reason}" for r in bad]  # fmt: skip
    if b is not None:
        from ..breakeven import api_monthly_usd

        lines.append("")
        api_month = api_monthly_usd(
            p.requests_per_s,
            p.prompt_tokens,
            p.completion_tokens,
            b.prompt_usd_per_1m,
            b.completion_usd_per_1m,
            b.cached_prompt_usd_per_1m,
            b.prefix_cache_hit,
        )
        cached = ""
        if b.prefix_cache_hit:
            cached = (f" ({rate(b.cached_prompt_usd_per_1m)} per 1M cached prompt tokens, {b.prefix_cache_hit:g} of "
                      "them)" if b.cached_prompt_usd_per_1m is not None else "")  # fmt: skip
        dated = ""
        if b.api != "at the given prices":
            from ..prices import age_text, api_price

            price = api_price(p.model, b.api)
            where = ", ".join(x for x in (price.source, price.source_url) if x)
            dated = f" (price of {age_text(price)}; {where}{'; ' + price.note if price.note else ''})"
        lines.append(
            f"API {b.api}: {rate(b.prompt_usd_per_1m)} / {rate(b.completion_usd_per_1m)} per 1M prompt / completion "
            f"tokens{cached}, {money(api_month)} per month at {p.requests_per_s:,.4g} requests/s{dated}"
        )
        lines += [f"Note: {w}" for w in b.warnings]
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


_BASIS = {"catalog": " (catalog on-demand)", "owned": " (owned)"}


def _engine_text(engine_id: str) -> str:
    """The engine as the plan names it: its id and the release its profile holds."""
    from ..catalog import get_engine

    return f"{engine_id} {get_engine(engine_id).version}"


def _energy_line(r: Any, grid: float | None) -> str:
    """The energy of a row in words: kWh and kg CO2e per 1M tokens and the figures behind them."""
    if r.kwh_per_1m_tokens is None:
        return (
            f"Energy: n/a ({r.gpu} has no board power in the catalog; give --power-kw, kW per GPU with its share "
            "of the server)"
        )
    return (
        f"Energy: {significant(r.kwh_per_1m_tokens, 4)} kWh and {significant(r.kg_co2e_per_1m_tokens, 4)} kg CO2e "
        f"per 1M tokens, {r.kwh_per_month:,.0f} kWh per month ({r.num_gpus} × {r.power_kw_per_gpu:.3g} kW per GPU "
        f"with its share of the server, PUE {r.pue:g}, every hour of the month; grid {grid:g} g CO2e/kWh)"
    )


def candidate_options(args: Any, gpus: list[str]) -> dict[str, Any]:
    """What every plan-shaped command reads alike from the plan options: the candidates (tp, dtype, cap), the
    engine and percentile, and the prices and power by GPU."""
    return dict(
        tp=_list(args.tp) or None,
        dtype=_list(args.dtype) or None,
        max_concurrency=args.max_concurrency,
        engine=args.engine,
        **({} if args.percentile is None else {"percentile": args.percentile}),
        **speculative_options(args),
        gpu_hour_usd=_by_gpu(args.gpu_hour_usd, "--gpu-hour-usd", "3.99", "h100-sxm-80gb=2.0,b200=7.0", gpus),
        owned=_owned(args.owned),
        power_kw=_by_gpu(args.power_kw, "--power-kw", "1.0", "h100-sxm-80gb=1.1,b200=1.6", gpus),
        pue=args.pue,
    )


def run(args: Any) -> int:
    from ..outputs import check_outputs, output_lock

    gpus = [g for text in args.gpu for g in _list(text)]
    options = dict(
        prompt_tokens=args.prompt,
        completion_tokens=args.completion,
        **candidate_options(args, gpus),
        reservation_discount=args.discount,
        grid_g_co2e_per_kwh=args.grid_co2,
        **({} if args.prefix_cache_hit is None else {"prefix_cache_hit": args.prefix_cache_hit}),
    )
    dp, ep = getattr(args, "dp", None), getattr(args, "ep", None)  # plan alone takes layouts, not the workbooks'
    if dp is not None or ep is not None:
        options.update(dp=_list(dp) or None, ep=_list(ep) or None)
    xlsx = getattr(args, "output", None)
    flags = [("-o", xlsx, (".xlsx",)), ("--csv", args.csv, (".csv",)), ("--json", args.json_path, (".json",))]
    if getattr(args, "frontier", False):
        _refuse_plan_options(args)
        check_outputs(flags, args.force)
        with output_lock([path for _, path, _ in flags]):
            return _run_frontier(args, gpus, options, xlsx)
    if args.rps is None and args.tokens_per_day is None:
        raise InvalidInputError(
            "give the average traffic with --rps or --tokens-per-day (or --frontier for the cost against output "
            "tokens/s per user, which takes no traffic)",
            field="requests_per_s",
        )
    check_outputs(flags, args.force)
    with output_lock([path for _, path, _ in flags]):
        return _run(args, gpus, {**options, "ttft_s_max": args.ttft, "itl_s_max": args.itl}, xlsx)


def _written(path: Any, args: Any) -> None:
    print(f"wrote {path}", file=sys.stderr if args.json_path == "-" else sys.stdout)


def _write_json(args: Any, document: dict[str, Any]) -> None:
    from ..outputs import atomic_write, check_overwrite, json_text

    check_overwrite(Path(args.json_path), force=args.force)
    atomic_write(Path(args.json_path), json_text(document).encode("utf-8"))
    _written(args.json_path, args)


def _run(args: Any, gpus: list[str], options: dict[str, Any], xlsx: str | None) -> int:
    from ..breakeven import breakeven
    from ..checks import check_count
    from ..outputs import csv_text, json_text, write_csv, write_json
    from ..plan import ROW_FIELDS, plan
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
        disaggregated=DISAGGREGATED[getattr(args, "disaggregated", "no")],
    )
    b = None
    api = _api(args.api)
    if api is not None:
        b = breakeven(model, gpus, api=api, peak_factor=p.peak_requests_per_s / p.requests_per_s, **options)
    dtype_note = None
    if options["dtype"] is None:
        from ..resolve import released_dtype

        d, basis = released_dtype(model)
        dtype_note = f"dtype {d.id} ({basis})"
    workbook_prices = _workbook_prices(options, p) if xlsx else None
    to_stdout = "-" in (args.json_path, args.csv)
    if args.json_path == "-":
        print(json_text(_document(p, b)), end="")
    elif args.csv != "-":
        print(printable(format_plan(p, b, dtype_note)))
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
        catalog_price = None
        if b is not None and b.api != "at the given prices":
            from ..prices import api_price

            catalog_price = api_price(p.model, b.api)
        path = write_plan_workbook(
            xlsx,
            p,
            force=args.force,
            api=names,
            api_price=catalog_price,
            api_cached=None if b is None else b.cached_prompt_usd_per_1m,
            **workbook_prices,  # type: ignore[arg-type]
            reservation_discount=check_fraction_below_one(args.discount, "reservation_discount"),
            max_concurrency=None
            if args.max_concurrency is None
            else check_count(args.max_concurrency, "max_concurrency"),
            model=model,
            engine=options["engine"],
        )
        print(f"wrote {printable(str(path))} ({len(p.rows)} candidate configurations)", file=note)
    return 0 if p.best is not None else EXIT_NONE_MEETS


def _workbook_prices(options: dict[str, Any], p: Plan) -> dict[str, Any]:
    """The plan workbook's one price basis for every GPU, or a refusal where the plan's prices differ by GPU."""
    rented, owned = options["gpu_hour_usd"], options["owned"]
    if isinstance(rented, dict) or (isinstance(owned, dict) and not set(owned) <= set(_OWNED_NAMES)):
        raise InvalidInputError(
            "the plan workbook takes one price basis for every GPU; give one --gpu-hour-usd or --owned, or leave "
            "out -o (the CSV and JSON carry each GPU's price)",
            field="gpu_hour_usd",
        )
    if owned is not None and not isinstance(owned, dict):
        raise InvalidInputError(
            "the plan workbook takes owned costs as PURCHASE_USD,YEARS,POWER_KW,PUE,USD_PER_KWH[,OTHER_USD_PER_YEAR], "
            "not as one price per GPU-hour; give those, or the price as --gpu-hour-usd",
            field="owned",
        )
    if owned is None:
        return {"gpu_hour_usd": None if rented is None else float(rented), "owned": None}
    owned = dict(owned)
    for name, attr in (("power_kw", "power_kw_per_gpu"), ("pue", "pue")):
        if name not in owned:  # the figure the plan used: the workbook has one for every GPU
            used = {getattr(r, attr) for r in p.rows}
            if len(used) != 1 or None in used:
                raise InvalidInputError(
                    f"the plan workbook takes one {name.upper()} for every GPU, and these GPUs differ; give "
                    f"{name.upper()} in --owned",
                    field=name,
                )
            owned[name] = used.pop()
    return {"gpu_hour_usd": None, "owned": owned}


def _refuse_plan_options(args: Any) -> None:
    given = [
        flag
        for flag, value in (
            ("--rps", args.rps),
            ("--tokens-per-day", args.tokens_per_day),
            ("--peak-rps", args.peak_rps),
            ("--peak-factor", args.peak_factor),
            ("--ttft", args.ttft),
            ("--itl", args.itl),
            ("--api", args.api),
            ("--speculative", getattr(args, "speculative", None)),
            ("--dp", getattr(args, "dp", None)),
            ("--ep", getattr(args, "ep", None)),
            ("--disaggregated", None if getattr(args, "disaggregated", "no") == "no" else args.disaggregated),
        )
        if value is not None
    ]
    if given:
        raise InvalidInputError(
            "--frontier takes the request shape, GPUs, tp, dtype, engine, percentile, prices and energy inputs, not "
            f"{given[0]}: every concurrency is priced with the replica fully used; leave out --frontier for a plan "
            "at a traffic",
            field="frontier",
        )


def _run_frontier(args: Any, gpus: list[str], options: dict[str, Any], xlsx: str | None) -> int:
    from ..frontier import POINT_FIELDS, frontier
    from ..outputs import json_text, write_csv

    f = frontier(args.model, gpus, **options)
    if args.json_path == "-":
        print(json_text(f.to_dict()), end="")
    else:
        print(format_frontier(f))
    if args.csv:
        write_csv(f.to_rows(), Path(args.csv), args.force, POINT_FIELDS)
        _written(args.csv, args)
    if args.json_path and args.json_path != "-":
        _write_json(args, f.to_dict())
    if xlsx:
        from ..checks import check_count
        from ..workbook.frontier import write_frontier_workbook

        cap = None if args.max_concurrency is None else check_count(args.max_concurrency, "max_concurrency")
        path = write_frontier_workbook(xlsx, f, force=args.force, engine=options["engine"], max_concurrency=cap)
        configs = len({(q.gpu, q.tp, q.pp, q.dtype) for q in f.points})
        _written(f"{printable(str(path))} ({len(f.points)} points of {configs} configurations)", args)
    return 0 if f.points else EXIT_NONE_MEETS


def format_frontier(f: Frontier) -> str:
    """The Pareto-efficient points as a table, fastest per user first; then what cannot serve."""
    configs = {(q.gpu, q.tp, q.pp, q.dtype) for q in f.points}
    hit = f" ({f.prefix_cache_hit:g} of them from the prefix cache)" if f.prefix_cache_hit else ""
    shape = f"{f.prompt_tokens:,} prompt{hit} + {f.completion_tokens:,} completion tokens per request"
    head = f"{f.model}: {shape}; each point"
    if f.points:
        q = f.points[0]
        head += (
            f" one replica under {_engine_text(q.engine)} at the traffic that keeps that many sequences decoding on "
            f"average; TTFT and ITL at p{q.percentile:g}, tokens/s per user at the mean ITL"
        )
    lines = [head, ""]
    if not f.points:
        lines.append("No configuration can serve this request shape; each says why below.")
    else:
        front = f.pareto
        lines.append(
            f"Cost against interactivity: {len(front)} of {len(f.points)} points over {len(configs)} "
            f"configuration{'s' if len(configs) != 1 else ''} are on the frontier (no other point is as fast per "
            "user for less); --csv or --json hold every point"
        )
        at = f"p{front[0].percentile:g}"
        header = ("GPU", "tp", "dtype", "concurrency", "tok/s/user", "tok/s/GPU", "$/GPU-h", "$/1M in", "$/1M out",
                  "$/1M blend", "kWh/1M", f"TTFT {at} s", f"ITL {at} s")  # fmt: skip
        table = [header] + [
            (
                q.gpu,
                str(q.tp) if q.pp == 1 else f"{q.tp}×pp{q.pp}",
                q.dtype,
                str(q.concurrency),
                f"{q.output_tokens_per_s_per_user:,.1f}",
                f"{q.output_tokens_per_s_per_gpu:,.0f}",
                money(q.gpu_hour_usd),
                money(q.usd_per_1m_prompt_tokens, 3),
                money(q.usd_per_1m_completion_tokens, 3),
                money(q.usd_per_1m_blended, 3),
                "n/a" if q.kwh_per_1m_tokens is None else significant(q.kwh_per_1m_tokens, 3),
                f"{q.ttft_s:.3f}",
                f"{q.itl_s:.4f}",
            )
            for q in front
        ]
        lines.append("")
        lines += columns(table, right=frozenset(range(1, len(header))) - {2}, indent="  ")
    if f.unserved:
        lines += ["", f"Cannot serve this ({len(f.unserved)} configuration{'s' if len(f.unserved) != 1 else ''}):"]
        lines += [f"  {u}" for u in f.unserved]
    return "\n".join(lines)


def _document(p: Plan, b: Breakeven | None) -> dict[str, Any]:
    out = p.to_dict()
    out["breakeven"] = None if b is None else b.to_dict()
    if b is not None and b.api != "at the given prices":  # the price compared with: its source and date
        from ..prices import STALE_AFTER_DAYS, api_price, price_age_days

        price = api_price(p.model, b.api)
        days = price_age_days(price)
        out["breakeven"]["api_price"] = {**price.model_dump(mode="json"), "age_days": days,
                                         "stale": days > STALE_AFTER_DAYS}  # fmt: skip
    return out
