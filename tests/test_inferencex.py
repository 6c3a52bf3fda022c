"""InferenceX's held-out runs: the importer's mapping, the data file's provenance, the protocol, the published section."""

from __future__ import annotations

import csv
import datetime as dt
import importlib
import importlib.util
import re
import sys

import numpy as np
import pytest

import llmxl

from .conftest import ROOT

DATA = ROOT / "benchmarks" / "data"
#: InferenceX's field -> the section of benchmarks/data/inferencex_names.toml that maps it
PARTS = {"hardware": "hardware", "framework": "frameworks", "ix_model": "models", "precision": "precisions",
         "spec_method": "spec_methods"}  # fmt: skip
#: The llmxl column each InferenceX field maps to
LLMXL = {
    "hardware": "gpu",
    "framework": "engine",
    "ix_model": "model",
    "precision": "dtype",
    "spec_method": "speculative",
}


def _importer():
    spec = importlib.util.spec_from_file_location(
        "llmxl_import_inferencex", ROOT / "benchmarks" / "import_inferencex.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shared():
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module("inferencex")


def _rows() -> list[dict[str, str]]:
    with (DATA / "inferencex.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_mapping_covers_every_name_the_csv_holds():
    table = _importer().names()
    rows = _rows()
    assert len(rows) >= 500
    for field, part in PARTS.items():
        held = {r[field] for r in rows}
        assert held <= set(table[part]), f"{field}: {held - set(table[part])} not in inferencex_names.toml [{part}]"
        for r in rows:
            assert r[LLMXL[field]] == table[part][r[field]], (field, r[field], r[LLMXL[field]])


def test_every_mapped_name_is_in_llmxls_catalog():
    table = _importer().names()
    for gpu in filter(None, table["hardware"].values()):
        assert llmxl.get_gpu(gpu).id == gpu
    for model in table["models"].values():
        assert llmxl.get_model(model).id == model
    engines = set(llmxl.catalog.engines())
    assert set(filter(None, table["frameworks"].values())) <= engines
    for dtype in table["precisions"].values():
        llmxl.estimate("deepseek-r1", "b200", tp=8, dtype=dtype, prompt_tokens=8, completion_tokens=8)
    assert set(table["vendors"]) == set(filter(None, table["hardware"].values()))


def test_the_catalog_knows_the_gpus_the_issue_names():
    table = _importer().names()
    for runner in ("mi300x", "mi325x", "mi355x", "h100", "h200", "b200", "gb200"):
        assert table["hardware"][runner], runner
    assert table["hardware"]["gb300"] == ""  # GB300 has no catalog entry: its runs are skipped, and counted


def test_every_row_carries_its_source_date_and_run():
    for r in _rows():
        assert "InferenceX-app" in r["source"] and "GPL-3.0" in r["source"] and "Apache-2.0" in r["source"], r
        assert dt.date.fromisoformat(r["date"]) >= dt.date(2025, 1, 1), r["date"]
        assert re.fullmatch(r"https://github\.com/SemiAnalysisAI/InferenceX/actions/runs/\d+/attempts/\d+",
                            r["run_url"]), r["run_url"]  # fmt: skip
        assert r["capture"] in ("cac6246e", "528c4146"), r["capture"]
        assert float(r["mean_ttft"]) > 0 and float(r["mean_tpot"]) > 0 and float(r["tput_per_gpu"]) > 0


def test_the_skipped_runs_are_counted_by_reason():
    with (DATA / "inferencex-skipped.csv").open(encoding="utf-8", newline="") as fh:
        skipped = {r["reason"]: int(r["rows"]) for r in csv.DictReader(fh)}
    assert skipped["GPU not in llmxl's catalog (gb300)"] > 0
    assert not any(r["hardware"] == "gb300" for r in _rows())


def _run(**changes):
    run = {"hardware": "b200", "framework": "sglang", "model": "dsr1", "precision": "fp8", "spec_method": "none",
           "disagg": False, "is_multinode": False, "prefill_tp": 8, "prefill_ep": 8, "prefill_dp_attention": True,
           "prefill_num_workers": 0, "decode_tp": 8, "decode_ep": 8, "decode_dp_attention": True,
           "decode_num_workers": 0, "num_prefill_gpu": 8, "num_decode_gpu": 8, "isl": 1024, "osl": 1024, "conc": 64,
           "image": None, "date": "2026-02-27", "run_url": "https://github.com/SemiAnalysisAI/InferenceX/actions/runs/1/attempts/1",
           "metrics": {"mean_ttft": 0.5, "mean_tpot": 0.02, "tput_per_gpu": 900.0}}  # fmt: skip
    return run | changes


class TestConvert:
    def test_attention_data_parallelism_is_dp_ranks_of_tp_one(self):
        imp = _importer()
        (row,), skipped, _ = imp.convert([("cac6246e", _run())], imp.names())
        assert (row["tp"], row["dp"], row["ep"]) == ("1", "8", "8")  # SGLang --tp 8 --dp 8 --enable-dp-attention
        assert (row["gpu"], row["engine"], row["dtype"], row["speculative"]) == ("b200", "sglang", "w8a8e16-fp8", "")
        assert not skipped

    def test_plain_tensor_parallelism(self):
        imp = _importer()
        run = _run(decode_dp_attention=False, decode_ep=1, framework="trt", spec_method="mtp", precision="fp4")
        (row,), _, _ = imp.convert([("x", run)], imp.names())
        assert (row["tp"], row["dp"], row["ep"]) == ("8", "1", "1")
        assert (row["engine"], row["dtype"], row["speculative"]) == ("tensorrt-llm", "nvfp4", "mtp")

    def test_a_run_in_both_captures_is_kept_once_and_a_rerun_twice(self):
        imp = _importer()
        rerun = _run(run_url="https://github.com/SemiAnalysisAI/InferenceX/actions/runs/2/attempts/1")
        rows, skipped, _ = imp.convert([("a", _run()), ("b", _run()), ("b", rerun)], imp.names())
        assert len(rows) == 2 and sum(skipped.values()) == 1

    def test_unmapped_names_and_gpus_without_an_entry_are_counted(self):
        imp = _importer()
        runs = [("a", _run(hardware="mi450x")), ("a", _run(hardware="gb300")), ("a", _run(framework="newengine"))]
        rows, skipped, unmapped = imp.convert(runs, imp.names())
        assert rows == []
        assert unmapped == {"hardware 'mi450x'": 1, "framework 'newengine'": 1}
        assert skipped["GPU not in llmxl's catalog (gb300)"] == 1 and sum(skipped.values()) == 3


class TestProtocol:
    def test_the_mean_of_lengths_uniform_in_eight_tenths_to_one(self):
        ix = _shared()
        # benchmark_serving.py draws np.random.randint(int(0.8 L), L + 1): integers 819..1024, 6553..8192
        assert ix.mean_length(1024) == round((819 + 1024) / 2) == 922
        assert ix.mean_length(8192) == round((6553 + 8192) / 2) == 7372

    def test_a_prediction_is_operating_point_under_the_protocol(self):
        ix = _shared()
        rows = [r for r in ix.aggregated(_rows()) if r["conc"] in ("4", "64")]
        picked = {}
        for r in rows:  # one run of each engine and layout
            picked.setdefault((r["framework"], r["dp"], r["speculative"]), r)
        sample = list(picked.values())
        got, why = ix.predict(sample)
        for r, g, w in zip(sample, got, why, strict=True):
            assert w == ""
            C, s, n = int(r["conc"]), ix.mean_length(int(r["isl"])), ix.mean_length(int(r["osl"]))
            op = llmxl.operating_point(
                r["model"],
                r["gpu"],
                C,
                tp=int(r["tp"]),
                dp=int(r["dp"]),
                ep=int(r["ep"]),
                dtype=r["dtype"],
                engine=r["engine"] or None,
                prompt_tokens=s,
                completion_tokens=n,
                num_requests=10 * C,
                speculative=r["speculative"] or None,
            )
            gpus = int(r["tp"]) * int(r["dp"])
            want = (op.ttft_mean_s, op.itl_mean_s, op.output_tokens_per_s * (s + n) / n / gpus)
            np.testing.assert_allclose(g, want, rtol=1e-9)

    def test_a_lower_hbm_efficiency_only_slows_decoding(self):
        ix = _shared()
        row = next(r for r in ix.aggregated(_rows()) if r["gpu"] == "mi300x" and r["conc"] == "64")
        now, _ = ix.predict([row])
        slow, _ = ix.predict([row], hbm=0.5)
        assert slow[0, 1] > now[0, 1] and slow[0, 2] < now[0, 2]


def test_the_published_section_is_current():
    ix = _shared()
    doc = (ROOT / "docs" / "validation-load.md").read_text(encoding="utf-8")
    section = "\n".join(ix.markdown())
    assert section in doc, "regenerate: python benchmarks/heldout.py --markdown"


@pytest.mark.parametrize("with_kp", [False, True])
def test_the_amd_proposal_leaves_each_gpu_out(with_kp):
    ix = _shared()
    res = ix.amd_factors(ix.load(), with_kp)
    assert set(res["folds"]) == {"mi300x", "mi325x", "mi355x"}
    k, e = res["best"]
    assert (k is None) == (not with_kp) and e in ix.HBM_GRID
    assert all(r["gpu"] in ("mi300x", "mi325x", "mi355x") for r in res["rows"])
