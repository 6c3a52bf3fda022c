"""No input breaks llmxl: one regression test per case of the adversarial pass, and a fuzz test.

Only LlmxlError ever escapes the library (exit code 2 and one line in the CLI, an error text in a cell);
every number it returns is finite; nothing the user has is lost or overwritten by surprise.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmxl
from llmxl import CatalogError, InvalidInputError, LlmxlError, estimate
from llmxl.cli import main

from .conftest import ROOT

SCENARIO = dict(prompt_tokens=128, completion_tokens=16)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- tracebacks -------------------------------------------------------------------------------


class TestNoTracebacks:
    def test_fp8_suffix_on_a_16_bit_dtype(self, capsys):
        with pytest.raises(InvalidInputError, match="drop the -fp8 suffix"):
            estimate("llama-2-7b", "h100-sxm-80gb", dtype="w16a16e16-fp8", **SCENARIO)
        code, _, err = run(capsys, "estimate", "--model", "llama-2-7b", "--gpu", "h100-sxm-80gb", "--dtype",
                           "w16a16e16-fp8", "--prompt", "128", "--completion", "16")  # fmt: skip
        assert code == 2 and err.count("\n") == 1

    @pytest.mark.parametrize(
        ("kw", "field"),
        [
            ({"hbm_efficiency": 1e-320}, "hbm_efficiency"),
            ({"flops_efficiency": 1e-320}, "flops_efficiency"),
            ({"batch_size": 10**302}, "batch_size"),
            ({"batch_size": 1e302}, "batch_size"),
            ({"prompt_tokens": 10**12}, "prompt_tokens"),
            ({"gpu_hour_usd": 1e300}, "gpu_hour_usd"),
        ],
    )
    def test_tiny_and_huge_numbers(self, kw, field):
        with pytest.raises(InvalidInputError) as info:
            estimate("llama-2-7b", "a100-sxm-80gb", **{**SCENARIO, **kw})
        assert info.value.field == field

    @pytest.mark.parametrize(
        "gpu",
        [
            {"memory_gib": 1e300, "hbm_bandwidth_gbs": 2000, "fp16_tflops": 300, "interconnect_gbs": 300},
            {"memory_gib": 80, "hbm_bandwidth_gbs": 5e-324, "fp16_tflops": 300, "interconnect_gbs": 300},
            {"memory_gib": True, "hbm_bandwidth_gbs": 2000, "fp16_tflops": 300, "interconnect_gbs": 300},
            {"memory_gib": "80", "hbm_bandwidth_gbs": 2000, "fp16_tflops": 300, "interconnect_gbs": 300},
        ],
    )
    def test_gpu_figures_out_of_range_or_of_the_wrong_type(self, gpu):
        with pytest.raises(InvalidInputError, match="gpu"):
            estimate("llama-2-7b", gpu, **SCENARIO)

    @pytest.mark.parametrize(
        ("change", "text"),
        [
            ({"num_local_experts": "8"}, "num_local_experts='8' must be a whole number"),
            ({"num_hidden_layers": "32"}, "num_hidden_layers"),
            ({"hidden_size": True}, "hidden_size"),
        ],
    )
    def test_wrong_types_in_model_data(self, change, text):
        cfg = {"model_type": "mixtral", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
               "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 512,
               "num_experts_per_tok": 2, **change}  # fmt: skip
        with pytest.raises(CatalogError, match=text):
            llmxl.ModelSpec.from_hf_config(cfg)

    def test_deeply_nested_config_and_catalog(self, tmp_path):
        deep = tmp_path / "config.json"
        deep.write_text("[" * 100_000 + "]" * 100_000)
        with pytest.raises(CatalogError, match="not valid JSON"):
            estimate(str(deep), "a100-sxm-80gb", **SCENARIO)
        toml = tmp_path / "deep.toml"
        toml.write_text("a = " + "[" * 100_000 + "]" * 100_000)
        with pytest.raises(CatalogError, match=r"deep\.toml"):
            llmxl.add_catalog_file(toml)

    def test_a_non_utf8_catalog_does_not_poison_later_loads(self, tmp_path):
        bad = tmp_path / "bad.toml"
        bad.write_bytes(b'[[gpus]]\nid = "caf\xe9"\n')
        with pytest.raises(CatalogError, match="not UTF-8"):
            llmxl.add_catalog_file(bad)
        good = tmp_path / "good.toml"
        good.write_text('[[gpus]]\nid = "mine"\nmemory_gib = 80\nhbm_bandwidth_gbs = 2000\nfp16_tflops = 300\n'
                        "interconnect_gbs = 300\n")  # fmt: skip
        llmxl.add_catalog_file(good)
        assert "mine" in llmxl.gpus()

    @pytest.mark.parametrize(
        ("entry", "text"),
        [
            ('aliases = [1, 2]\nconfig = "c.json"', "aliases"),
            ('checked = "yesterday"\nconfig = "c.json"', "checked"),
            ("config = 5", "config must be a path"),
            ('config = "c.json"\nnum_hidden_layers = 4', "beside config"),
        ],
    )
    def test_entries_through_config_are_validated(self, tmp_path, entry, text):
        (tmp_path / "c.json").write_text(json.dumps({
            "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
            "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 512}))  # fmt: skip
        cat = tmp_path / "cat.toml"
        cat.write_text(f'[[models]]\nid = "m"\n{entry}\n')
        with pytest.raises(CatalogError, match=text):
            llmxl.add_catalog_file(cat)

    def test_control_characters_in_catalog_text_reach_workbooks_as_text(self, tmp_path, capsys):
        cat = tmp_path / "cat.toml"
        cat.write_text('[[gpus]]\nid = "g1"\nmemory_gib = 80\nhbm_bandwidth_gbs = 2000\nfp16_tflops = 300\n'
                       'interconnect_gbs = 300\nsource = "bell\\u0007 and \\u001b[31mred"\n')  # fmt: skip
        os.environ["LLMXL_CATALOG"] = str(cat)
        try:
            llmxl.catalog.reset()
            code, _, err = run(capsys, "report", "--model", "llama-2-7b", "--gpu", "g1", "--prompt", "128",
                               "--completion", "16", "--no-progress", "-o", str(tmp_path / "r.xlsx"))  # fmt: skip
            assert code == 0, err
            code, _out, _ = run(capsys, "catalog", "gpus", "--json")
            assert code == 0
        finally:
            os.environ["LLMXL_CATALOG"] = ""
            llmxl.catalog.reset()

    def test_a_million_scenario_report_is_refused_not_attempted(self, capsys, tmp_path):
        batches = ",".join(str(i) for i in range(1, 1001))
        prompts = ",".join(str(i) for i in range(1, 1001))
        code, _, err = run(capsys, "report", "--model", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--batch", batches,
                           "--prompt", prompts, "--completion", "16", "-o", str(tmp_path / "r.xlsx"))  # fmt: skip
        assert code == 2 and "1,000,000 scenarios" in err and "--max-scenarios" in err


# --- silent wrong results ---------------------------------------------------------------------


class TestNoSilentWrongResults:
    def test_misspelled_and_badly_typed_inline_fields(self, tmp_path):
        base = ('[[models]]\nid = "m"\nmodel_type = "llama"\nnum_hidden_layers = 2\nhidden_size = 64\n'
                "num_attention_heads = 4\nvocab_size = 100\nmax_position_embeddings = 512\n")  # fmt: skip
        for extra, text in (
            ("intermediate_sizes = 14336\n", "unknown field 'intermediate_sizes'; did you mean 'intermediate_size'"),
            ('aliases = "abc"\n', "aliases.*must be a list"),
        ):
            cat = tmp_path / "cat.toml"
            cat.write_text(base + extra)
            with pytest.raises(CatalogError, match=text):
                llmxl.add_catalog_file(cat)
        gpu = tmp_path / "gpu.toml"
        gpu.write_text('[[gpus]]\nid = "g"\nmemory_gib = true\nhbm_bandwidth_gbs = 2000\nfp16_tflops = 300\n'
                       "interconnect_gbs = 300\n")  # fmt: skip
        with pytest.raises(CatalogError, match="memory_gib"):
            llmxl.add_catalog_file(gpu)

    def test_user_dtypes_with_source_and_date(self, tmp_path):
        cat = tmp_path / "cat.toml"
        cat.write_text('[[dtypes]]\nid = "w6a16e16"\nweight_bits = 6\nactivation_bits = 16\nembedding_bits = 16\n'
                       'compute = "fp16"\nsource = "my notes"\nchecked = 2026-11-28\n')  # fmt: skip
        llmxl.add_catalog_file(cat)
        assert llmxl.get_dtype("w6a16e16").source == "my notes"

    def test_json_output_is_strict(self, capsys, tmp_path):
        js = tmp_path / "r.json"
        code, _, _ = run(capsys, "report", "--model", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--batch", "1,100000",
                         "--prompt", "128", "--completion", "16", "--json", str(js))  # fmt: skip
        assert code == 0
        json.loads(js.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


# --- data loss ----------------------------------------------------------------------------------


class TestNothingIsLost:
    REPORT = ("report", "--model", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--prompt", "128", "--completion", "16")

    def test_force_never_replaces_a_device_a_fifo_or_a_folder(self, capsys, tmp_path):
        fifo = tmp_path / "pipe.csv"
        os.mkfifo(fifo)
        null = tmp_path / "null.csv"
        null.symlink_to("/dev/null")
        for target in (str(null), str(fifo)):
            code, _, err = run(capsys, *self.REPORT, "--csv", target, "--force")
            assert code == 2 and "not a regular file" in err
        assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
        (tmp_path / "dir.xlsx").mkdir()
        code, _, err = run(capsys, *self.REPORT, "-o", str(tmp_path / "dir.xlsx"), "--force")
        assert code == 2 and "folder" in err

    def test_a_symlink_is_written_through_only_to_a_regular_file(self, capsys, tmp_path):
        target = tmp_path / "real.csv"
        target.write_text("mine\n")
        link = tmp_path / "link.csv"
        link.symlink_to(target)
        code, _, err = run(capsys, *self.REPORT, "--csv", str(link))
        assert code == 2 and "refusing to overwrite" in err and target.read_text() == "mine\n"
        code, _, _ = run(capsys, *self.REPORT, "--csv", str(link), "--force")
        assert code == 0 and link.is_symlink() and target.read_text().startswith('"model"')

    def test_outputs_that_collide_are_refused_before_anything_is_written(self, capsys, tmp_path):
        x = tmp_path / "x.csv"
        code, _, err = run(capsys, *self.REPORT, "--csv", str(x), "--json", str(x), "--force")
        assert code == 2 and "name the same file" in err and not x.exists()
        code, _, err = run(capsys, *self.REPORT, "-o", str(tmp_path / "x.csv"))
        assert code == 2 and "writes XLSX" in err and not x.exists()

    def test_a_custom_property_the_user_added_counts_as_an_edit(self, capsys, tmp_path):
        from openpyxl import load_workbook
        from openpyxl.packaging.custom import StringProperty

        out = tmp_path / "r.xlsx"
        assert run(capsys, *self.REPORT, "-o", str(out))[0] == 0
        wb = load_workbook(out)
        wb.custom_doc_props.append(StringProperty(name="owner", value="finance"))
        # keep every other part as llmxl wrote it: rewrite only docProps/custom.xml
        import io

        from openpyxl.writer.excel import ExcelWriter

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            ExcelWriter(wb, z).write_data()
        custom = zipfile.ZipFile(buf).read("docProps/custom.xml")
        src = zipfile.ZipFile(out)
        edited = tmp_path / "edited.xlsx"
        with zipfile.ZipFile(edited, "w") as z:
            for info in src.infolist():
                z.writestr(info, custom if info.filename == "docProps/custom.xml" else src.read(info.filename))
        code, _, err = run(capsys, *self.REPORT, "-o", str(edited))
        assert code == 2 and "changed since" in err

    def test_a_missing_folder_is_not_created(self, capsys, tmp_path):
        code, _, err = run(capsys, *self.REPORT, "-o", str(tmp_path / "nope" / "r.xlsx"))
        assert code == 2 and "does not exist" in err and not (tmp_path / "nope").exists()
        code, _, err = run(capsys, *self.REPORT, "-o", "/etc/passwd/x.xlsx")
        assert code == 2 and "is a file, not a folder" in err

    def test_a_terminated_run_leaves_no_temporary_file(self, tmp_path):
        code = (
            "import os, signal, llmxl.workbook.files as f\n"
            "real = os.fsync\n"
            "def stop(fd):\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "os.fsync = stop\n"
            "from llmxl.cli import main\n"
            f"raise SystemExit(main(['report', '--model', 'llama-2-7b', '--gpu', 'a100-sxm-80gb', '--prompt', '128',"
            f" '--completion', '16', '--csv', {str(tmp_path / 'r.csv')!r}]))\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 128 + 15, proc.stderr
        assert os.listdir(tmp_path) == []

    def test_a_long_file_name_is_not_too_long_for_its_temporary_file(self, capsys, tmp_path):
        name = "r" * 245 + ".csv"
        code, _, err = run(capsys, *self.REPORT, "--csv", str(tmp_path / name))
        assert code == 0, err and (tmp_path / name).exists()


# --- resources, injection, messages -------------------------------------------------------------


class TestResourcesAndInjection:
    def test_divisor_search_is_fast_for_huge_head_counts(self):
        import time

        from llmxl.resolve import divisors as _divisors

        t0 = time.perf_counter()
        assert _divisors(2**33)[-1] == 2**33
        assert time.perf_counter() - t0 < 1

    def test_a_fifo_given_as_config_json_is_refused_without_blocking(self, tmp_path):
        fifo = tmp_path / "config.json"
        os.mkfifo(fifo)
        with pytest.raises(CatalogError, match="not a regular file"):
            estimate(str(fifo), "a100-sxm-80gb", **SCENARIO)
        zero = tmp_path / "zero.json"
        zero.symlink_to("/dev/zero")
        with pytest.raises(CatalogError, match="not a regular file"):
            estimate(str(zero), "a100-sxm-80gb", **SCENARIO)

    def test_the_overwrite_check_reads_no_zip_bomb(self, capsys, tmp_path):
        bomb = tmp_path / "r.xlsx"
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("docProps/custom.xml", 'name="llmxl_fingerprint"')
            z.writestr("big.bin", b"\0" * (600 * 1024**2))
        code, _, err = run(capsys, *TestNothingIsLost.REPORT, "-o", str(bomb))
        assert code == 2 and "refusing to overwrite" in err

    def test_csv_neutralises_triggers_after_separators(self, capsys, tmp_path):
        cat = tmp_path / "cat.toml"
        cat.write_text('[[gpus]]\nid = "x;=1+1;y"\nmemory_gib = 80\nhbm_bandwidth_gbs = 2000\nfp16_tflops = 300\n'
                       "interconnect_gbs = 300\nusd_per_hour = 2.0\n"
                       '[[gpus]]\nid = "=cmd|\' /C calc\'!A0"\nmemory_gib = 80\nhbm_bandwidth_gbs = 2000\n'
                       "fp16_tflops = 300\ninterconnect_gbs = 300\n")  # fmt: skip
        llmxl.add_catalog_file(cat)
        out = tmp_path / "r.csv"
        code, _, _ = run(capsys, "report", "--model", "llama-2-7b", "--gpu", "x;=1+1;y", "--gpu",
                         "=cmd|' /C calc'!A0", "--prompt", "128", "--completion", "16", "--csv", str(out))  # fmt: skip
        assert code == 0
        text = out.read_text()
        for sep in (",", ";"):
            for row in csv.reader(text.splitlines(), delimiter=sep):
                for field in row:
                    assert not field.lstrip(' "').startswith(("=", "+", "@", "-")), (sep, field)

    def test_terminal_escapes_are_shown_not_interpreted(self, capsys, tmp_path):
        cat = tmp_path / "cat.toml"
        cat.write_text('[[gpus]]\nid = "evil"\nmemory_gib = 80\nhbm_bandwidth_gbs = 2000\nfp16_tflops = 300\n'
                       'interconnect_gbs = 300\naliases = ["e\\u001b[2Jvil"]\n')  # fmt: skip
        with pytest.raises(CatalogError):  # control characters are refused in names
            llmxl.add_catalog_file(cat)
        code, _, err = run(capsys, "estimate", "--model", "llama\x1b[2J", "--gpu", "a100-sxm-80gb", "--prompt", "1",
                           "--completion", "1")  # fmt: skip
        assert code == 2 and "\x1b" not in err and "\\x1b" in err

    def test_report_accepts_a_config_json_model(self, capsys, tmp_path):
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
                                   "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
                                   "max_position_embeddings": 512, "_name_or_path": "tiny"}))  # fmt: skip
        code, _, err = run(capsys, "report", "--model", str(cfg), "--gpu", "a100-sxm-80gb", "--prompt", "16",
                           "--completion", "16", "-o", str(tmp_path / "r.xlsx"), "--csv", str(tmp_path / "r.csv"))  # fmt: skip
        assert code == 0, err

    def test_a_closed_pipe_is_not_an_error(self):
        proc = subprocess.run(
            f"{sys.executable} -m llmxl.cli catalog models | head -1", shell=True, cwd=ROOT, capture_output=True,
            text=True,
        )  # fmt: skip
        assert "error" not in proc.stderr.lower() and proc.stdout.startswith("id")

    def test_csv_rows_are_linear_in_time(self, tmp_path):
        import time

        from llmxl.workbook.report import Sweep

        class Args:
            model = ["llama-2-7b"]
            gpu = ["a100-sxm-80gb"]
            batch = ",".join(str(i) for i in range(1, 101))
            prompt = ",".join(str(i) for i in range(1, 101))
            completion = ",".join(str(i) for i in range(1, 11))
            tp, pp, dtype, method = "1", "1", "w16a16e16", "standard"
            flops_efficiency = hbm_efficiency = gpu_hour_usd = None

        t0 = time.perf_counter()
        rows = Sweep(Args).engine_rows()
        assert len(rows) == 100_000 and time.perf_counter() - t0 < 5


# --- the fuzz test ----------------------------------------------------------------------------
# Strategies of every class the adversarial passes found: numpy, Decimal and Fraction scalars, denormal and
# huge traffic, Unicode controls, bidi overrides and lone surrogates, config layout fields of every type,
# lock-folder states. Only LlmxlError escapes; every number returned is finite; no file but the declared
# outputs changes.

_scalars = st.sampled_from([np.int64(8), np.float32(0.5), np.float64(2.0), np.uint8(3), np.bool_(True),
                            Decimal("4"), Decimal("1e999"), Decimal("NaN"), Fraction(1, 3), -0.0, 1 + 2j, 10**400,
                            np.float16(65504)])  # fmt: skip
_traffic = st.sampled_from([5e-324, 1e-310, 1e-9, 1e9, 1e300, 1e307, 1e308, math.inf, -0.0])
_unicode = st.one_of(
    st.sampled_from(["a\ud800b", "x\uffff", "\u202eevil", "\u009b[2J", "\u2066x\u2069", "а100-sxm-80gb",
                     "ａ100-sxm-80gb", "\x00", "\x1b[31m"]),
    st.text(alphabet=st.characters(codec=None, categories=("Cc", "Cf", "Cs", "Co", "Lu", "Nd")), max_size=8),
)  # fmt: skip
_weird_numbers = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 1e-320, 5e-324, 1e302, 10**302, -1, 0.5, True, False]),
    _scalars,
    _traffic,
    st.text(max_size=6),
    st.none(),
)
_names = st.one_of(
    st.sampled_from(["llama-2-7b", "mixtral-8x7b", "deepseek-v3", "gpt-oss-20b", "a100*", "x;=1", "", " "]),
    st.text(max_size=12),
    _unicode,
    st.integers(),
    st.none(),
)
_gpus = st.one_of(
    st.sampled_from(["a100-sxm-80gb", "h100-sxm-80gb", "b200", "l40s", "h100"]),
    st.fixed_dictionaries(
        {
            "memory_gib": _weird_numbers,
            "hbm_bandwidth_gbs": _weird_numbers,
            "fp16_tflops": _weird_numbers,
            "interconnect_gbs": _weird_numbers,
        }
    ),
    _names,
)
_field_values = st.one_of(
    _weird_numbers,
    st.lists(st.one_of(st.integers(-2, 70), st.sampled_from(["full_attention", "sliding_attention", "x", {}])),
             max_size=70),
    st.lists(st.lists(st.integers(0, 3), max_size=2), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
_LAYOUT_FIELDS = ["interleave_moe_layer_step", "first_k_dense_replace", "moe_layer_freq", "decoder_sparse_step",
                  "mlp_only_layers", "moe_layers", "layer_types", "no_rope_layers", "no_rope_layer_interval",
                  "sliding_window", "sliding_window_pattern", "max_window_layers", "use_sliding_window",
                  "attention_chunk_size", "num_local_experts", "num_experts_per_tok", "moe_intermediate_size",
                  "n_shared_experts", "shared_expert_intermediate_size", "moe_layer_start_index", "moe_layer_interval",
                  "kv_lora_rank", "qk_rope_head_dim", "head_dim", "num_hidden_layers", "attn_type_list", "index_topk",
                  "_name_or_path", "model_type", "text_config"]  # fmt: skip
_BASE = {"model_type": "deepseek_v3", "num_hidden_layers": 64, "hidden_size": 64, "num_attention_heads": 4,
         "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 4096, "n_routed_experts": 8,
         "num_experts_per_tok": 2, "moe_intermediate_size": 32}  # fmt: skip
_configs = st.builds(
    lambda model_type, fields: {**_BASE, "model_type": model_type, **fields},
    st.sampled_from(["deepseek_v3", "qwen2_moe", "llama4_text", "gemma3_text", "mixtral", "glm4_moe", "minimax_m2",
                     "ernie4_5_moe", "qwen3_next", "newthing"]),
    st.dictionaries(st.sampled_from(_LAYOUT_FIELDS), st.one_of(_field_values, st.sampled_from([10**9, 63, 64, 65])),
                    max_size=5),
)  # fmt: skip


def _finite(value) -> bool:
    if value is None or isinstance(value, (str, bool)):
        return True
    if isinstance(value, np.ndarray):
        return bool(np.all(np.isfinite(value[~np.isnan(value)]))) if value.dtype.kind == "f" else True
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    return True


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(model=st.one_of(_names, _configs), gpu=_gpus, b=_weird_numbers, s=_weird_numbers, n=_weird_numbers,
       tp=_weird_numbers, fe=_weird_numbers, price=_weird_numbers, dtype=_names,
       method=st.sampled_from(["standard", "serving", "reference", "x", None]))  # fmt: skip
def test_fuzz_estimate(model, gpu, b, s, n, tp, fe, price, dtype, method):
    kw = dict(batch_size=b, prompt_tokens=s, completion_tokens=n, tp=tp, flops_efficiency=fe, gpu_hour_usd=price)
    if dtype is not None:
        kw["dtype"] = dtype
    if method is not None:
        kw["method"] = method
    try:
        e = estimate(model, gpu, **kw)
    except LlmxlError:
        return
    for name in ("ttft_s", "tpot_s", "tokens_per_s", "usd_per_1k_completion_tokens", "weight_bytes_per_gpu"):
        assert _finite(getattr(e, name)), name


@FUZZ
@given(config=_configs)
def test_fuzz_config_layouts(config):
    """Any value in any layout field: a spec with finite counts, or one CatalogError line naming a field."""
    import time

    start = time.perf_counter()
    try:
        spec = llmxl.ModelSpec.from_hf_config(config)
    except CatalogError as exc:
        assert "\n" not in exc.message
        return
    finally:
        assert time.perf_counter() - start < 1  # closed-form layouts: no per-layer loop over 10**9 layers
    assert 0 < spec.active_parameters <= spec.total_parameters
    with contextlib.suppress(LlmxlError):
        e = estimate(spec, "b200", prompt_tokens=64, completion_tokens=8)
        assert _finite(e.ttft_s) and _finite(e.tpot_s)


@FUZZ
@given(model=st.one_of(_names, st.just(_BASE)), gpu=_gpus, rps=st.one_of(_weird_numbers, _traffic),
       peak=st.one_of(_weird_numbers, _traffic), s=_weird_numbers, n=_weird_numbers, ttft=_weird_numbers,
       discount=_weird_numbers, price=_weird_numbers, tp=st.sampled_from([[1, 2], [], None, [0], [np.int64(2)]]),
       owned=st.one_of(st.none(), _weird_numbers, st.fixed_dictionaries({"purchase_usd": _weird_numbers})))  # fmt: skip
def test_fuzz_planning(model, gpu, rps, peak, s, n, ttft, discount, price, tp, owned):
    try:
        p = llmxl.plan(model, gpu, prompt_tokens=s, completion_tokens=n, requests_per_s=rps, peak_requests_per_s=peak,
                       ttft_s_max=ttft, reservation_discount=discount,
                       **({"owned": owned} if owned is not None else {"gpu_hour_usd": price}), tp=tp)  # fmt: skip
    except LlmxlError:
        p = None
    for row in [] if p is None else p.rows:
        for value in row.to_dict().values():
            assert _finite(value)
    for f in (lambda: llmxl.owned_gpu_hour_usd(price, rps, peak, ttft, discount),
              lambda: llmxl.api_price(model, gpu if isinstance(gpu, str) else "x"),
              lambda: llmxl.breakeven(model, gpu, prompt_tokens=s, completion_tokens=n, api=(price, rps),
                                      peak_factor=peak, gpu_hour_usd=discount, tp=[1]),
              lambda: llmxl.operating_point(model, gpu, [rps, peak], prompt_tokens=s, completion_tokens=n)):  # fmt: skip
        try:
            out = f()
        except LlmxlError:
            continue
        values = [out] if isinstance(out, float) else list(getattr(out, "to_dict", dict)().values())
        for value in values:
            assert _finite(value) if not isinstance(value, dict) else all(_finite(v) for v in value.values())


_LOCK_STATES = ("absent", "private", "world-writable", "group-writable", "a-link", "a-file", "planted-link")


def _lock_state(base: Path, state: str) -> None:
    folder = base / f"llmxl-locks-{os.getuid()}"
    if state == "absent":
        return
    if state == "a-link":
        (base / "elsewhere").mkdir(mode=0o700)
        folder.symlink_to(base / "elsewhere")
    elif state == "a-file":
        folder.write_text("")
    else:
        folder.mkdir(mode=0o700)
        os.chmod(folder, {"world-writable": 0o777, "group-writable": 0o770}.get(state, 0o700))
        if state == "planted-link":
            for name in ("r.csv", "r.json", "r.xlsx"):  # the lock files a run writing these would open
                key = hashlib.sha256(os.fsencode(os.path.realpath(base.parent / name))).hexdigest()[:32]
                (folder / f"{key}.lock").symlink_to(base.parent / "notes.txt")


def _tree(root: Path) -> dict:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[path] = ("link", os.readlink(path))
        elif path.is_file():
            out[path] = ("file", path.read_bytes())
        else:
            out[path] = ("dir", stat.S_IMODE(path.stat().st_mode))
    return out


_OUT_FLAGS = ("-o", "--output", "--csv", "--json")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    argv=st.lists(
        st.one_of(
            st.sampled_from(["estimate", "report", "plan", "catalog", "workbook", "--model", "llama-2-7b", "--gpu",
                             "a100-sxm-80gb", "--prompt", "--completion", "--batch", "--tp", "0", "1", "1e309", "-5",
                             "x,y", "--json", "--csv", "-o", "--rps", "--dtype", "fp8", "models", "=1+1", "--method",
                             "serving", "\x1b[2J", "nan", "2.5", "--gpu-hour-usd", "5e-324", "1e300", "-", "r.csv",
                             "r.json", "r.xlsx", "--max-concurrency", "8.0", "--force", "--peak-factor",
                             "--no-progress", "notes.txt"]),
            _unicode,
        ),
        max_size=14,
    ),
    lock=st.sampled_from(_LOCK_STATES),
)  # fmt: skip
def test_fuzz_cli(argv, lock, tmp_path_factory):
    """Exit 0 or 2 (one line on stderr), and nothing changes but the outputs the command line names."""
    box = tmp_path_factory.mktemp("cli")
    (box / "notes.txt").write_text("my notes\n")
    (box / "tmp").mkdir()
    _lock_state(box / "tmp", lock)
    before = _tree(box)
    declared = set()
    for i, flag in enumerate(argv[:-1]):
        if flag in _OUT_FLAGS:
            with contextlib.suppress(ValueError):  # a name no file system can hold is no output
                declared.add(os.path.realpath(box / argv[i + 1]))
    cwd, tempdir = os.getcwd(), tempfile.tempdir
    os.chdir(box)
    tempfile.tempdir = str(box / "tmp")
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage errors exit 2 with one line
        code = exc.code
    finally:
        os.chdir(cwd)
        tempfile.tempdir = tempdir
    assert code in (0, 2)
    after = _tree(box)
    lock_dir = box / "tmp" / f"llmxl-locks-{os.getuid()}"
    for path in set(before) | set(after):
        if os.path.realpath(path) in declared or path.parent == lock_dir:
            continue  # a declared output, or a lock file of this run
        assert before.get(path) == after.get(path), path
    assert (box / "notes.txt").read_text() == "my notes\n"


def test_fuzz_udfs():
    """Every Excel function, every argument a weird value: a number, a text, or a one-line error text."""
    from hypothesis import given as _given

    from .xlwings_harness import call_as_excel, functions, windows_xlwings

    cell = st.one_of(st.sampled_from(["llama-2-7b", "a100-sxm-80gb", 1.0, 16.0, -2146826246, None, "", "#N/A",
                                      "x;=1", 1e302, -1.0, "serving", "fp8", 0.0, 5e-324, 1e308, -0.0]),
                     st.floats(allow_nan=False), st.text(max_size=5), _unicode,
                     st.lists(st.lists(st.sampled_from([1.0, 0.0, "x", None]), min_size=1, max_size=3),
                              min_size=1, max_size=3))  # fmt: skip
    with windows_xlwings() as (module, _):
        funcs = functions(module)

        @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @_given(name=st.sampled_from(sorted(funcs)), args=st.lists(cell, max_size=14))
        def check(name, args):
            f = funcs[name]
            n_args = len(f.__xlfunc__["args"])
            out = call_as_excel(f, *args[:n_args]) if args else call_as_excel(f)
            values = out if isinstance(out, list) else [[out]]
            for row in values:
                for v in row if isinstance(row, list) else [row]:
                    if isinstance(v, str):
                        assert "\n" not in v and "Traceback" not in v and len(v) <= 32_767
                    elif isinstance(v, float):
                        assert math.isfinite(v)

        try:
            check()
        except TypeError as exc:  # a call with fewer arguments than the function requires: Excel would refuse it
            if "required positional argument" not in str(exc):
                raise


def test_two_runs_never_write_the_same_output_at_once(capsys, tmp_path):
    from llmxl.outputs import output_lock

    out = tmp_path / "r.csv"
    with output_lock([str(out)]):  # another run holds it
        code, _, err = run(capsys, *TestNothingIsLost.REPORT, "--csv", str(out))
    assert code == 2 and "another llmxl run is writing" in err and not out.exists()
    assert run(capsys, *TestNothingIsLost.REPORT, "--csv", str(out))[0] == 0
