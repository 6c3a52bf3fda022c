"""``llmxl catalog``: the models, GPUs and dtypes llmxl knows, with their sources."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .output import columns, plain, printable, short_text


def add_parser(sub: Any) -> None:
    p = sub.add_parser("catalog", help="list models, GPUs or dtypes", description="List catalog entries.")
    p.add_argument("kind", choices=["models", "gpus", "dtypes"])
    p.add_argument("--json", action="store_true", help="print every field as JSON")


def run(args: argparse.Namespace) -> int:
    import sys

    from .. import catalog

    cat = catalog.get_catalog()
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
