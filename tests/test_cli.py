"""The llmxl command line: output, JSON, catalog listings, one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

import llmxl
from llmxl.cli import main

from .conftest import CHECK_GPU, PUBLISHED_COLUMNS, published_rows


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_estimate_table_shows_the_published_first_row(capsys):
    code, out, err = run(
        capsys,
        "estimate",
        "--model",
        "llama-2-70b",
        "--gpu",
        "a100-sxm-80gb",
        "--tp",
        "2",
        "--batch",
        "1",
        "--prompt",
        "128",
        "--completion",
        "242",
        "--method",
        "reference",
        "--gpu-hour-usd",
        "2.21",
    )
    assert code == 0 and err == ""
    row = published_rows()[0]
    assert "Tokens/second" in out and row["tokens_per_s"] in out
    assert f"${row['price_per_1k_completion_usd']}" in out
    assert "Time for completion" in out and row["completion_time_s"] in out


def test_estimate_json_equals_the_library(capsys):
    code, out, _ = run(
        capsys,
        "estimate",
        "--model",
        "llama-2-70b",
        "--gpu",
        "a100-sxm-80gb",
        "--tp",
        "2",
        "--prompt",
        "512",
        "--completion",
        "512",
        "--batch",
        "8",
        "--json",
    )
    data = json.loads(out)
    e = llmxl.estimate("llama-2-70b", "a100-sxm-80gb", tp=2, batch_size=8, prompt_tokens=512, completion_tokens=512)
    assert code == 0
    for attr, _ in PUBLISHED_COLUMNS.values():
        assert data[attr] == getattr(e, attr)
    assert data["method"] == "serving" and data["breakdown"]["decode"]["overhead_s"] > 0


@pytest.mark.parametrize("kind", ["models", "gpus", "dtypes"])
def test_catalog_lists(capsys, kind):
    code, out, _ = run(capsys, "catalog", kind)
    assert code == 0
    ids = {"models": llmxl.models, "gpus": llmxl.gpus, "dtypes": llmxl.dtypes}[kind]()
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == ids
    code, out, _ = run(capsys, "catalog", kind, "--json")
    assert [e["id"] for e in json.loads(out)] == ids


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (
            ["estimate", "--model", "llama-2-70b", "--gpu", "h100", "--prompt", "1", "--completion", "1"],
            "unknown gpu 'h100'; did you mean",
        ),
        (
            [
                "estimate",
                "--model",
                "llama-2-70b",
                "--gpu",
                "a100-sxm-80gb",
                "--tp",
                "2",
                "--batch",
                "2.5",
                "--prompt",
                "1",
                "--completion",
                "1",
            ],
            "batch_size must be a whole number from 1 to 10,000,000, got 2.5",
        ),
        (
            ["estimate", "--model", "llama-2-70b", "--gpu", "a100-sxm-80gb", "--prompt", "1", "--completion", "1"],
            "try tp=2",
        ),
        (["estimate", "--model", "llama-2-70b"], "required"),
        (["catalog", "cars"], "invalid choice"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(capsys, argv, text):
    with pytest.raises(SystemExit) if argv[-1] in ("llama-2-70b", "cars") else _no_raise() as info:
        code = main(argv)
    if info is not None and hasattr(info, "value"):
        code = info.value.code
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and text in err


class _no_raise:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_version_and_entry_point():
    proc = subprocess.run([sys.executable, "-m", "llmxl.cli", "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"llmxl {llmxl.__version__}"


def test_estimate_method_serving_json_equals_the_library(capsys):
    argv = [
        "estimate",
        "--model",
        "Qwen/Qwen3-235B-A22B",
        "--gpu",
        "b200",
        "--tp",
        "4",
        "--dtype",
        "nvfp4",
        "--method",
        "serving",
        "--prompt",
        "2000",
        "--completion",
        "500",
        "--batch",
        "16",
        "--json",
    ]
    code, out, _ = run(capsys, *argv)
    data = json.loads(out)
    e = llmxl.estimate(
        "qwen3-235b-a22b",
        "b200",
        tp=4,
        dtype="nvfp4",
        batch_size=16,
        prompt_tokens=2000,
        completion_tokens=500,
        method="serving",
    )
    assert code == 0 and data["method"] == "serving" and data["model"] == "qwen3-235b-a22b"
    for attr in (
        "ttft_s",
        "tpot_s",
        "completion_time_s",
        "tokens_per_s",
        "usd_per_1k_completion_tokens",
        "total_parameters",
        "active_parameters",
        "kv_bytes_per_token",
        "experts_per_decode_step",
        "flops_efficiency",
        "hbm_efficiency",
    ):
        assert data[attr] == getattr(e, attr), attr
    assert data["breakdown"]["decode"]["overhead_s"] > 0


def test_estimate_table_shows_the_serving_fields(capsys):
    code, out, _ = run(
        capsys,
        "estimate",
        "--model",
        "mixtral-8x7b",
        "--gpu",
        "h100-sxm-80gb",
        "--tp",
        "2",
        "--method",
        "serving",
        "--prompt",
        "512",
        "--completion",
        "256",
        "--batch",
        "4",
    )
    assert code == 0
    assert "method serving" in out and "Parameters (total / active)   46.70B / 12.88B" in out
    assert "Experts read per decode step" in out


def test_standard_refuses_moe_naming_the_serving_method(capsys):
    code, _, err = run(
        capsys,
        "estimate",
        "--model",
        "mixtral-8x7b",
        "--gpu",
        "h100-sxm-80gb",
        "--tp",
        "2",
        "--prompt",
        "512",
        "--completion",
        "256",
        "--method",
        "standard",
    )
    assert code == 2 and "use method='serving'" in err and err.count("\n") == 1


PLAN = ["plan", "--model", "llama-3.1-70b", "--gpu", "h100-sxm-80gb", "--tp", "2", "--dtype", "fp8", "--prompt",
        "1000", "--completion", "300", "--rps", "5", "--peak-rps", "15", "--ttft", "0.5", "--itl", "0.05",
        "--gpu-hour-usd", "3.99"]  # fmt: skip


def test_plan_table_puts_the_recommendation_first(capsys, tmp_path, monkeypatch):
    # the methodology's planning worked check: its H100 constants, as a user catalog GPU
    cat = tmp_path / "check.toml"
    cat.write_text(CHECK_GPU)
    monkeypatch.setenv("LLMXL_CATALOG", str(cat))
    llmxl.catalog.reset()
    argv = [a if a != "h100-sxm-80gb" else "h100-check" for a in PLAN]
    code, out, _ = run(capsys, *argv, "--api", "0.88,0.88")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].endswith("at p90; engine vllm 0.11.0")
    assert lines[3].startswith("Recommended: 8 × h100-check (4 replicas of tp=2, w8a8e16-fp8) at concurrency 31")
    assert "$23,301.60 per month" in lines[3]
    assert "$15,032.16 per month at 5 requests/s" in out
    # at a peak three times the average, a full replica costs more than the API for what it serves
    assert "Break-even: none; the API costs less at every traffic level" in out


def test_plan_json_equals_the_library(capsys):
    code, out, _ = run(capsys, *PLAN, "--api", "together", "--json", "-")
    data = json.loads(out)
    p = llmxl.plan(
        "llama-3.1-70b",
        "h100-sxm-80gb",
        tp=2,
        dtype="fp8",
        prompt_tokens=1000,
        completion_tokens=300,
        requests_per_s=5,
        peak_requests_per_s=15,
        ttft_s_max=0.5,
        itl_s_max=0.05,
        gpu_hour_usd=3.99,
    )
    assert code == 0 and data["best"] == p.best.to_dict()
    b = data["breakeven"]
    assert b["api"] == "together" and (b["requests_per_s"] is None) == (b["reason"] is not None)


def test_plan_csv_neutralises_and_lists_every_candidate(capsys, tmp_path):
    path = tmp_path / "plan.csv"
    code, _, _ = run(
        capsys,
        "plan",
        "--model",
        "llama-3.1-8b",
        "--gpu",
        "l40s,h100-sxm-80gb",
        "--prompt",
        "500",
        "--completion",
        "100",
        "--rps",
        "2",
        "--csv",
        str(path),
    )
    rows = list(csv.DictReader(path.open()))
    assert code == 0 and len(rows) == 8 and rows[0]["monthly_usd"]
    assert set(rows[0]) >= {"gpu", "tp", "dtype", "concurrency", "replicas", "num_gpus", "gpu_hour_usd", "reason"}


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--rps", "0"], "requests_per_s must be > 0"),
        (["--rps", "5", "--peak-rps", "1"], "peak_requests_per_s 1 is below the average 5"),
        (["--rps", "5", "--discount", "1.5"], "reservation_discount must be in [0, 1)"),
        (["--rps", "5", "--api", "togther"], "did you mean 'together'"),
        (["--rps", "5", "--owned", "30000,5,1"], "--owned takes USD per GPU-hour or"),
    ],
)
def test_plan_bad_input_is_one_line(capsys, extra, text):
    argv = ["plan", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--prompt", "500", "--completion", "100"]
    code, _, err = run(capsys, *argv, *extra)
    assert code == 2 and text in err and err.count("\n") == 1


def test_report_says_which_scenarios_did_not_fit_and_exits_2_when_none_did(capsys, tmp_path):
    base = ["report", "--model", "llama-2-70b", "--gpu", "a100-sxm-80gb", "--tp", "2", "--prompt", "2048",
            "--completion", "2048", "--no-progress", "--csv", str(tmp_path / "r.csv")]  # fmt: skip
    code, out, err = run(capsys, *base, "--batch", "1,64,128")
    assert code == 0 and "wrote" in out and "(3 rows)" in out
    assert "2 of 3 scenarios did not compute" in err and "KV cache" in err
    code, _, err = run(capsys, *base[:-1], str(tmp_path / "s.csv"), "--batch", "256")
    assert code == 2 and "no scenario computed" in err


def test_csv_rows_carry_what_reconciles_a_price(capsys, tmp_path):
    path = tmp_path / "r.csv"
    code, _, _ = run(capsys, "report", "--model", "llama-2-70b", "--gpu", "a100-sxm-80gb", "--tp", "2", "--batch",
                     "8", "--prompt", "512", "--completion", "512", "--csv", str(path))  # fmt: skip
    (row,) = list(csv.DictReader(path.open()))
    assert code == 0
    for key in ("tp", "pp", "dtype", "method", "flops_efficiency", "hbm_efficiency", "gpu_hour_usd", "num_gpus",
                "tpot_s", "e2e_latency_s"):  # fmt: skip
        assert row[key] not in ("", None), key
    # the price follows from the row alone: 1000 · price · GPUs / 3600 / (batch / TPOT)
    price = 1000 * float(row["gpu_hour_usd"]) * int(row["num_gpus"]) / 3600 / (8 / float(row["tpot_s"]))
    assert price == pytest.approx(float(row["usd_per_1k_completion_tokens"]), rel=1e-12)


def test_money_plurals_sources_and_a_node_warning(capsys):
    code, out, _ = run(capsys, "estimate", "--model", "llama-3.1-405b", "--gpu", "h100-sxm-80gb", "--tp", "8",
                       "--pp", "2", "--prompt", "128", "--completion", "16", "--gpu-hour-usd", "3.1")  # fmt: skip
    assert code == 0 and "$3.10 per GPU-hour" in out
    assert "more than one 8-GPU node" in out
    code, out, _ = run(capsys, "catalog", "gpus")
    assert "checked" in out.splitlines()[0] and "source" in out.splitlines()[0] and "Lambda on-demand" in out
