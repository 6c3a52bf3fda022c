"""Shared fixtures: every test sees the built-in catalog only, unless it adds files."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

import llmxl.catalog

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE_CSV = SHARED / "reference" / "llama2-70b-a100-fe0.7-hbm0.9.csv"
# The GPU of the methodology's planning check (docs/methodology.md), as a user catalog entry.
CHECK_GPU = """
[[gpus]]
id = "h100-check"
memory_gib = 80
hbm_bandwidth_gbs = 3350
fp16_tflops = 989
fp8_tflops = 1979
int8_tops = 1979
interconnect_gbs = 450
allreduce_latency_s = 2e-5
layer_overhead_s = 1e-5
prefill_overhead_s = 8e-3
decode_overhead_s = 5e-4
serving_flops_efficiency = 0.7
serving_hbm_efficiency = 0.9
"""


@pytest.fixture(autouse=True)
def builtin_catalog_only(monkeypatch, tmp_path_factory):
    """Point the user catalog at nothing, so a developer's own file cannot change results."""
    monkeypatch.setenv(llmxl.catalog.ENV_VAR, "")
    llmxl.catalog.reset()
    yield
    llmxl.catalog.reset()


def published_rows() -> list[dict[str, str]]:
    """The published Llama-2-70B table (llm-analysis, flops 0.7, HBM 0.9, $2.21/GPU-hour)."""
    if REFERENCE_CSV.exists():
        path = REFERENCE_CSV
    else:  # the package ships a copy (the template needs it) for machines without ../shared
        path = ROOT / "llmxl" / "data" / "published" / REFERENCE_CSV.name
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# column in the CSV -> (Estimate attribute, decimals printed)
PUBLISHED_COLUMNS = {
    "ttft_s": ("ttft_s", 3),
    "completion_time_s": ("completion_time_s", 3),
    "tokens_per_s": ("tokens_per_s", 3),
    "price_per_1k_prompt_usd": ("usd_per_1k_prompt_tokens", 6),
    "price_per_1k_completion_usd": ("usd_per_1k_completion_tokens", 4),
}


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def require_soffice() -> str:
    """The LibreOffice binary; skip with a reason locally, fail under CI=true."""
    exe = soffice()
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("LibreOffice (soffice) is required under CI=true; .ci/run must install libreoffice-calc-nogui")
        pytest.skip("LibreOffice (soffice) is not installed; apt-get install libreoffice-calc-nogui to run this test")
    return exe
