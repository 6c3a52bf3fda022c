"""``llmxl catalog``: the models, GPUs, dtypes, serving engines and API prices llmxl knows, with their sources."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .output import columns, plain, printable, short_text


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "catalog",
        help="list models, GPUs, systems, dtypes, serving engines or API prices",
        description="List catalog entries. engines: each serving engine's memory rule and scheduling defaults, "
        "pinned to a release, with the flags that change them. systems: a GPU as a server or rack builds it "
        "(NVLink domain, scale-out network per GPU), accepted wherever a GPU is. apis: every hosted API price "
        "(USD per 1M tokens) with its date and source, from genai-prices' bundled snapshot (pip install "
        "'llmxl[genai]'; read offline) and llmxl's own file for what it lacks; a price older than 180 days is flagged.",
    )
    p.add_argument("kind", choices=["models", "gpus", "systems", "dtypes", "engines", "apis"])
    p.add_argument("--model", help="apis only: the prices of one model (id or alias)")
    p.add_argument("--json", action="store_true", help="print every field as JSON")


def run(args: argparse.Namespace) -> int:
    import sys

    from .. import catalog

    cat = catalog.get_catalog()
    if args.kind == "apis":
        return _apis(args)
    if args.kind == "systems":
        return _systems(args)
    specs = list(cat.entries[args.kind].values())
    for problem in cat.problems:  # entries set aside: said here, and again when their name is used
        print(f"llmxl: warning: skipped: {printable(problem)}", file=sys.stderr)
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in specs], indent=2))
        return 0
    if args.kind == "models":
        header = (
            "id",
            "type",
            "layers",
            "hidden",
            "heads",
            "kv heads",
            "mlp",
            "vocab",
            "context",
            "params",
            "active",
            "serving only",
            "released",
            "checked",
            "source",
        )
        rows = [
            (
                s.id,
                s.model_type,
                s.num_hidden_layers,
                s.hidden_size,
                s.num_attention_heads,
                s.num_key_value_heads,
                s.intermediate_size,
                s.vocab_size,
                s.max_position_embeddings,
                f"{s.total_parameters / 1e9:.2f}B",
                f"{s.active_parameters / 1e9:.2f}B",
                "; ".join(s.standard_only_features) or "-",
                "-" if s.released is None else (s.released.dtype or "not known"),
                s.checked.isoformat() if s.checked else "-",
                short_text(s.source),
            )
            for s in specs
        ]
    elif args.kind == "gpus":
        header = (
            "id",
            "GiB",
            "GB/s",
            "fp16 TFLOPS",
            "fp8 TFLOPS",
            "fp4 TFLOPS",
            "int8 TOPS",
            "int4 TOPS",
            "link GB/s",
            "$/GPU-h",
            "price from",
            "checked",
            "source",
        )
        rows = [
            (
                s.id,
                plain(s.memory_gib),
                plain(s.hbm_bandwidth_gbs),
                plain(s.fp16_tflops),
                plain(s.fp8_tflops),
                plain(s.fp4_tflops),
                plain(s.int8_tops),
                plain(s.int4_tops),
                plain(s.interconnect_gbs),
                "-" if s.usd_per_hour is None else f"${s.usd_per_hour:,.2f}",
                "-"
                if s.usd_per_hour is None
                else f"{short_text(s.usd_per_hour_source or '', 30)} ({s.usd_per_hour_checked or 'undated'})",
                s.checked.isoformat() if s.checked else "-",
                short_text(s.source),
            )
            for s in specs
        ]
    elif args.kind == "engines":
        default = cat.default_engine
        header = ("id", "version", "KV cache from", "memory fraction", "sequences", "step budget [tokens]", "block",
                  "scheduling", "front-end s", "checked", "source")  # fmt: skip
        basis = {"total": "device total", "free_at_start": "free at start", "free_after_load": "free after load"}
        rows = [
            (
                s.id + (" (default)" if s.id == default else ""),
                s.version,
                basis[s.memory_basis],
                f"{s.memory_fraction_flag}={'rule' if s.memory_fraction is None else f'{s.memory_fraction:g}'}",
                f"{s.max_num_seqs_flag}={_tiers(s.limits, 'max_num_seqs')}",
                f"{s.max_num_batched_tokens_flag}={_tiers(s.limits, 'max_num_batched_tokens')}",
                str(s.block_size),
                "decodes + prompt chunks" if s.scheduling == "mixed" else "prefill first",
                f"{s.front_end_s:g}",
                s.checked.isoformat(),
                short_text(s.source),
            )
            for s in specs
        ]
    else:
        header = ("id", "weight bits", "activation bits", "embedding bits", "KV bits", "compute", "aliases")
        rows = [
            (
                s.id,
                plain(s.weight_bits),
                plain(s.activation_bits),
                plain(s.embedding_bits),
                plain(s.kv_bits),
                s.compute_kind,
                ", ".join(s.aliases),
            )
            for s in specs
        ]
    table = [tuple(str(c) for c in header)] + [tuple(printable(str(c)) for c in r) for r in rows]
    for line in columns(table):
        print(line)
    return 0


def _tiers(limits: Any, attr: str) -> str:
    """An engine default that depends on GPU memory, as '2048; 8192 from 70 GiB (not a100-*)'."""
    parts: list[str] = []
    last = None
    for tier in limits:
        value = getattr(tier, attr)
        if value == last:
            continue
        where = f" from {tier.min_memory_gib:g} GiB" if tier.min_memory_gib else ""
        if tier.exclude_gpus:
            where += f" (not {', '.join(tier.exclude_gpus)})"
        parts.append(f"{value}{where}")
        last = value
    return "; ".join(parts)


def _apis(args: argparse.Namespace) -> int:
    """``llmxl catalog apis``: provider, model, prices, date (flagged when older than 180 days) and source."""
    import datetime as _dt
    from collections import Counter

    from ..api_catalog import OWN_FILE, origin, snapshot_status
    from ..prices import STALE_AFTER_DAYS, api_prices, date_text, price_age_days

    today = _dt.date.today()
    prices = api_prices(args.model, today=today)
    status = snapshot_status()
    if args.json:
        out = [
            {**p.model_dump(mode="json"), "age_days": price_age_days(p, today),
             "stale": price_age_days(p, today) > STALE_AFTER_DAYS}
            for p in prices
        ]  # fmt: skip
        print(json.dumps(out, indent=2))
        return 0
    header = ("provider", "model", "provider's name", "$/1M in", "$/1M out", "$/1M cached in", "serves", "dated",
              "age", "source", "note")  # fmt: skip
    rows = []
    stale = 0
    for p in prices:
        days = price_age_days(p, today)
        old = days > STALE_AFTER_DAYS
        stale += old
        if p.date_basis == "snapshot":
            source = f"genai-prices {status.pinned}: {p.source_url or p.source}"
        else:
            source = short_text(p.source, 60)
        rows.append(
            (
                p.provider,
                p.model,
                short_text(p.provider_model or "-", 40),
                f"{p.prompt_usd_per_1m:g}",
                f"{p.completion_usd_per_1m:g}",
                "-" if p.cached_input_usd_per_1m is None else f"{p.cached_input_usd_per_1m:g}",
                p.served_dtype or "-",
                date_text(p),
                f"{days} d" + (" STALE" if old else ""),
                source,
                short_text(p.note or "-", 60),
            )
        )
    table = [header] + [tuple(printable(str(c)) for c in r) for r in rows]
    for line in columns(table, right=frozenset({3, 4, 5, 8})):
        print(line)
    kinds = Counter(origin(p) for p in prices)
    named = {f"genai-prices {status.pinned}": f"genai-prices {status.pinned} (its snapshot of "
             f"{status.published.isoformat()})", OWN_FILE: f"llmxl's own file ({OWN_FILE})"}  # fmt: skip
    print(f"{len(prices)} prices: " + ", ".join(f"{n} from {named.get(k, k)}" for k, n in kinds.items()))
    if not status.usable:
        print(f"Only llmxl's own prices and your catalog's: {status.reason}")
    print(
        f"{stale} older than {STALE_AFTER_DAYS} days at {today.isoformat()} (STALE): check them with the provider "
        "before relying on them"
    )
    print(
        "dated: the latest date a price is known to hold, its genai-prices snapshot's or the day it was read "
        "(checked); since: when the provider's price took effect; the full notes are in --json"
    )
    return 0


def _systems(args: argparse.Namespace) -> int:
    """``llmxl catalog systems``: each system's GPU, scale-up domain and links, with its source."""
    from ..systems import get_system, systems

    specs = [get_system(name) for name in systems()]
    if args.json:
        print(json.dumps([s.model_dump(mode="json") for s in specs if s is not None], indent=2))
        return 0
    from ..resolve import resolve_gpu

    header = ("id", "GPU", "domain GPUs", "scale-up GB/s", "scale-out GB/s", "scale-out latency s", "checked", "source")
    rows = [
        (s.id, s.gpu, str(s.domain_gpus), plain(resolve_gpu(s.id).interconnect_gbs), plain(s.scaleout_gbs),
         f"{s.scaleout_latency_s:g}", s.checked.isoformat(), short_text(s.source))
        for s in specs
        if s is not None
    ]  # fmt: skip
    print(printable("\n".join(columns([header, *rows]))))
    return 0
