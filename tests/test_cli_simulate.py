"""`llmxl simulate` and `llmxl catalog engines`: the simulator and the engine profiles at the command line."""

from __future__ import annotations

import json

import llmxl
from llmxl.cli import main
from llmxl.load.simulate import simulate


def test_simulate_prints_what_the_library_computes(capsys):
    argv = ["simulate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--input-len", "500", "--output-len",
            "50", "--max-concurrency", "8", "--num-prompts", "40", "--engine", "vllm:max_num_seqs=64", "--json"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    lib = simulate("llama-3.1-8b", "h100-sxm-80gb", prompt_tokens=500, completion_tokens=50, max_concurrency=8,
                   num_requests=40, engine=llmxl.engine("vllm", max_num_seqs=64))  # fmt: skip
    assert doc["ttft_p90_s"] == lib.ttft_p90_s and doc["output_tokens_per_s"] == lib.output_tokens_per_s
    assert doc["max_num_seqs"] == 64 and doc["request_rate"] is None  # inf is not JSON: null


def test_simulate_table_reads_like_a_benchmark(capsys):
    assert main(["simulate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--input-len", "500",
                 "--output-len", "50", "--request-rate", "4", "--num-prompts", "50"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "4 requests/s" in out and "engine vllm" in out
    for label in ("TTFT", "TPOT", "ITL", "E2E latency", "Output tokens/s", "Preemptions"):
        assert label in out


def test_simulate_bad_input_is_one_line(capsys):
    assert main(["simulate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--input-len", "500",
                 "--output-len", "50", "--engine", "vllm:max_num_seq=4"]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err == "llmxl: error: vllm has no setting 'max_num_seq'; did you mean 'max_num_seqs'?"


def test_catalog_engines_lists_each_profile_with_its_flags(capsys):
    assert main(["catalog", "engines"]) == 0
    out = capsys.readouterr().out
    assert "vllm (default)" in out and "gpu_memory_utilization=0.9" in out
    assert "max_num_seqs=256; 1024 from 70 GiB (not a100-*)" in out
    assert "mem_fraction_static=rule" in out and "prefill first" in out
    for name in llmxl.catalog.engines():
        assert name in out
