"""Engine memory (llmxl/load/memory.py) against the KV cache engines print at start-up, and its rules."""

from __future__ import annotations

import csv

import pytest

import llmxl
from llmxl import InvalidInputError, UnknownNameError
from llmxl.load.memory import engine_memory, sglang_memory_fraction
from llmxl.resolve import configuration, resolve_engine

from .conftest import ROOT

LOGS = ROOT / "tests" / "data" / "engine_startup.csv"
#: Records whose engine release keeps more memory outside its allocator than the profile's pinned release
#: (vLLM 0.11.0), with what it kept: a known miss, said here rather than hidden by a looser tolerance.
OUTSIDE_PROFILE = {"V6": "vLLM 0.27.1 kept 1.7 GiB outside its allocator on 4 x RTX PRO 6000, the profile 0.55 GiB"}


def _records() -> list[dict[str, str]]:
    with LOGS.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _memory(r: dict[str, str]):
    settings = ",".join(s for s in r["settings"].split(";") if s)
    eng = resolve_engine(r["engine"] + (":" + settings if settings else ""))
    _, g, _, T, *_ = configuration(r["model"], r["gpu"], r["dtype"], int(r["tp"]), 1, "serving")
    return engine_memory(T, g, eng, int(r["max_model_len"])), T


@pytest.mark.parametrize("r", _records(), ids=lambda r: r["id"])
def test_kv_cache_tokens_are_within_5_percent_of_what_the_engine_printed(r):
    assert r["source"].strip() and r["quote"].strip()
    mem, _ = _memory(r)
    logged = int(r["logged_kv_tokens"])
    err = mem.kv_cache_tokens / logged - 1
    if r["id"] in OUTSIDE_PROFILE:
        assert 0.05 < abs(err) < 0.10, f"{r['id']}: {err:+.1%}; {OUTSIDE_PROFILE[r['id']]}"
        return
    assert abs(err) <= 0.05, f"{r['id']}: {mem.kv_cache_tokens:,} tokens against {logged:,} logged ({err:+.1%})"


@pytest.mark.parametrize("r", _records(), ids=lambda r: r["id"])
def test_weights_agree_with_what_the_engine_loaded(r):
    mem, _ = _memory(r)
    assert mem.weight_bytes / 1024**3 == pytest.approx(float(r["logged_weights_gib"]), rel=0.04)


def test_vllm_budget_arithmetic_by_hand():
    """gpu_memory_utilization × device total − weights − workspace − reserve, in whole blocks of 16."""
    e = llmxl.engine("vllm")
    _, g, _, T, *_ = configuration("llama-3.1-8b", "h100-sxm-80gb", "bf16", 1, 1, "serving")
    mem = engine_memory(T, g, e, 131072)
    gib = 1024**3
    workspace = e.workspace_scale * 1024 * 4 * 128256 + e.workspace_fixed_gib * gib  # H100: 1024 sequences
    kv = 0.9 * 79.19 * gib - T.weights_per_gpu_bytes - workspace - e.runtime_reserve_gib * gib
    per_token = 2 * 32 * 8 * 128 * 2  # K and V, 32 layers, 8 KV heads of 128, bf16
    assert mem.kv_cache_tokens == int(kv // (16 * per_token)) * 16
    assert (mem.max_num_seqs, mem.max_num_batched_tokens) == (1024, 8192)
    assert mem.max_concurrency(T, 2000) == min(1024, mem.blocks // 125)


def test_vllm_tiers_follow_the_gpu():
    a100 = llmxl.engine("vllm").limits_for("a100-sxm-80gb", 79.25)
    h100 = llmxl.engine("vllm").limits_for("h100-sxm-80gb", 79.19)
    l40s = llmxl.engine("vllm").limits_for("l40s", 44.42)
    assert (a100.max_num_seqs, a100.max_num_batched_tokens) == (256, 2048)  # A100 keeps the small tier
    assert (h100.max_num_seqs, h100.max_num_batched_tokens) == (1024, 8192)
    assert (l40s.max_num_seqs, l40s.max_num_batched_tokens) == (256, 2048)
    small_budget = llmxl.engine("vllm", max_num_batched_tokens=512).limits_for("h100-sxm-80gb", 79.19)
    assert small_budget.max_num_seqs == 512  # vLLM: min(max_num_seqs, max_num_batched_tokens)


def test_sglang_fraction_follows_its_reserve_rule():
    """0.5.4: reserve 512 + 8192 × 1.5 + 256 × 2 + 1/8 × 1024 MiB = 13,440 MiB on an 80 GB H100 at tp 1."""
    e = llmxl.engine("sglang")
    frac = sglang_memory_fraction(e, 81559 / 1024, 8192, 256, 1)
    assert frac == round((81559 - 13440) / 81559, 3) == 0.835


def test_settings_use_the_engines_own_flag_names():
    assert llmxl.engine("vllm", gpu_memory_utilization=0.95).memory_fraction == 0.95
    assert llmxl.engine("sglang", mem_fraction_static=0.8).memory_fraction == 0.8
    assert llmxl.engine("tensorrt-llm", max_batch_size=64).max_num_seqs == 64
    assert resolve_engine("vllm:max_num_seqs=512,max_num_batched_tokens=4096").max_num_batched_tokens == 4096
    with pytest.raises(InvalidInputError, match="has no setting 'max_num_seq'; did you mean 'max_num_seqs'"):
        llmxl.engine("vllm", max_num_seq=5)
    with pytest.raises(InvalidInputError, match=r"gpu_memory_utilization must be in \[0.0001, 1\], got 1.5"):
        llmxl.engine("vllm", gpu_memory_utilization=1.5)
    with pytest.raises(InvalidInputError, match="max_num_seqs must be a whole number"):
        llmxl.engine("vllm", max_num_seqs=0)
    with pytest.raises(InvalidInputError, match="must read flag=value"):
        resolve_engine("vllm:max_num_seqs")
    with pytest.raises(UnknownNameError, match="unknown engine 'vlm'; did you mean 'vllm'"):
        llmxl.engine("vlm")


def test_every_engine_figure_names_its_source():
    for name in llmxl.catalog.engines():
        e = llmxl.engine(name)
        assert e.memory_source and e.limits_source and e.source and e.checked, name
    assert llmxl.engine().id == "vllm"  # the documented default
