"""The llmxl command line: output, JSON, catalog listings, one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import llmxl
from llmxl.cli import main

from .conftest import PUBLISHED_COLUMNS, published_rows


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
    assert data["method"] == "standard" and data["breakdown"]["decode"]["kv_cache_s"] > 0


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
            "batch_size must be a whole number ≥ 1, got 2.5",
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
