"""Released precision: what a config.json's torch_dtype / quantization_config say, and the default dtype it gives.

The regression of issue 18: gpt-oss-120b without a dtype was planned in bf16 (4 × H200 at $0.804 per 1M
blended) instead of the mxfp4 it ships in (1 × H200, $0.202); DeepSeek-V3 ships in fp8.
"""

from __future__ import annotations

import json

import pytest

import llmxl
from llmxl import CatalogError, InvalidInputError, catalog
from llmxl.cli import main
from llmxl.precision import released_from_config

from .xlwings_harness import call_as_excel, windows_xlwings

TINY = {
    "model_type": "llama",
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "vocab_size": 100,
    "max_position_embeddings": 4096,
}
PLAN = dict(prompt_tokens=1000, completion_tokens=300, requests_per_s=5, peak_requests_per_s=15, ttft_s_max=0.5,
            itl_s_max=0.05)  # fmt: skip


# fmt: off
KNOWN = [

    ({"torch_dtype": "bfloat16"}, "w16a16e16"),
    ({"dtype": "float16"}, "w16a16e16"),  # recent transformers write "dtype"
    ({"torch_dtype": "float32"}, "w16a16e16"),
    # DeepSeek-V3, Qwen3-FP8: block-scaled fp8 weights; the KV cache stays 16-bit (kv_cache_dtype auto)
    ({"torch_dtype": "bfloat16", "quantization_config": {"quant_method": "fp8", "fmt": "e4m3",
      "weight_block_size": [128, 128]}}, "w8a8e16-fp8-kv16"),
    ({"quantization_config": {"quant_method": "mxfp4"}}, "mxfp4"),  # gpt-oss
    # NVIDIA ModelOpt: fp8 with an fp8 KV cache; NVFP4
    ({"quantization_config": {"quant_algo": "FP8", "kv_cache_quant_algo": "FP8"}}, "w8a8e16-fp8"),
    ({"quantization_config": {"quant_method": "modelopt", "quant_algo": "NVFP4"}}, "nvfp4"),
    # Kimi K2.5: compressed-tensors int4 weights, nested in text_config
    ({"text_config": {"quantization_config": {"quant_method": "compressed-tensors", "config_groups": {
      "g": {"weights": {"num_bits": 4, "type": "int"}, "input_activations": None}}}}}, "w4a16e16"),
    ({"quantization_config": {"quant_method": "awq", "bits": 4}}, "w4a16e16"),
    ({"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}}, "w8a16e16"),
]
# fmt: on


class TestReleasedFromConfig:
    @pytest.mark.parametrize(("config", "dtype"), KNOWN)
    def test_known_precisions(self, config, dtype):
        got = released_from_config(config)
        assert got["dtype"] == dtype
        assert got["read"]
        assert llmxl.get_dtype(got["dtype"]).id == dtype  # a catalog dtype

    def test_no_precision_field_is_bf16_assumed_and_says_so(self):
        got = released_from_config({})
        assert got["dtype"] == "w16a16e16"
        assert got.get("assumed") is True

    def test_unknown_quantisation_names_no_dtype(self):
        got = released_from_config({"quantization_config": {"quant_method": "hqq"}})
        assert got["dtype"] is None
        assert "hqq" in got["read"]


class TestDefaultDtype:
    def test_gpt_oss_120b_plans_in_mxfp4_by_default(self):
        p = llmxl.plan("gpt-oss-120b", "h200-sxm-141gb", **PLAN)
        assert {r.dtype for r in p.rows} == {"mxfp4"}
        assert p.best.num_gpus == 2  # one replica of tp=2 (its MoE prompts at κP to hold the TTFT target)
        # and as bf16, when asked: more GPUs at a higher cost (the 4 under the load model of then)
        bf16 = llmxl.plan("gpt-oss-120b", "h200-sxm-141gb", dtype="bf16", **PLAN).best
        assert bf16.num_gpus > p.best.num_gpus and bf16.usd_per_1m_blended > p.best.usd_per_1m_blended

    def test_deepseek_v3_and_r1_estimate_in_fp8(self):
        for name in ("deepseek-v3", "deepseek-ai/DeepSeek-R1"):
            e = llmxl.estimate(name, "h200-sxm-141gb", tp=8, prompt_tokens=1024, completion_tokens=512)
            assert e.dtype == "w8a8e16-fp8-kv16"
            assert llmxl.get_dtype(e.dtype).compute_kind == "fp8"

    def test_a_given_dtype_wins(self):
        e = llmxl.estimate("gpt-oss-120b", "h200-sxm-141gb", tp=2, dtype="bf16", prompt_tokens=8, completion_tokens=8)
        assert e.dtype == "w16a16e16"

    def test_every_face_of_the_library_uses_it(self):
        op = llmxl.operating_point("gpt-oss-120b", "h200-sxm-141gb", 8, prompt_tokens=1000, completion_tokens=300)
        assert op.dtype == "mxfp4"
        b = llmxl.breakeven("gpt-oss-120b", "h200-sxm-141gb", prompt_tokens=1000, completion_tokens=300, api=(0.1, 0.5))
        assert b.row is None or b.row.dtype == "mxfp4"

    def test_scenario_defaults_gives_the_same_default(self):
        for model in ("gpt-oss-120b", "deepseek-v3", "llama-3.1-8b", "Qwen/Qwen3-32B-FP8"):
            d = llmxl.scenario_defaults("h200-sxm-141gb", model=model)
            e = llmxl.estimate(model, "h200-sxm-141gb", tp=8, prompt_tokens=64, completion_tokens=8)
            assert d["dtype"] == e.dtype
        assert llmxl.scenario_defaults("h200-sxm-141gb")["dtype"] is None

    def test_a_repository_in_another_precision_defaults_to_it(self):
        assert llmxl.get_model("Qwen/Qwen3-32B-FP8").released.dtype == "w8a8e16-fp8-kv16"
        assert llmxl.get_model("Qwen/Qwen3-32B").released.dtype == "w16a16e16"
        assert llmxl.get_model("Qwen/Qwen3-32B-FP8").id == "qwen3-32b"
        e = llmxl.estimate("nvidia/Llama-3.1-70B-Instruct-FP8", "h100-sxm-80gb", tp=2, prompt_tokens=8,
                           completion_tokens=8)  # fmt: skip
        assert e.dtype == "w8a8e16-fp8"  # ModelOpt fp8 with an fp8 KV cache

    def test_an_unknown_release_asks_for_a_dtype(self):
        with pytest.raises(InvalidInputError, match="give a dtype") as exc:
            llmxl.estimate("deepseek-v3.1", "h200-sxm-141gb", tp=8, prompt_tokens=8, completion_tokens=8)
        assert exc.value.field == "dtype"
        e = llmxl.estimate("nvidia/DeepSeek-V3.1-NVFP4", "b200", tp=8, prompt_tokens=8, completion_tokens=8)
        assert e.dtype == "nvfp4"

    def test_config_json_takes_its_own_precision(self, tmp_path):
        path = tmp_path / "config.json"
        path.write_text(json.dumps({**TINY, "quantization_config": {"quant_method": "fp8"}}))
        assert llmxl.estimate(str(path), "h100-sxm-80gb", prompt_tokens=8, completion_tokens=8).dtype == (
            "w8a8e16-fp8-kv16"
        )
        assert llmxl.released_dtype(str(path))[1] == "as released"
        path.write_text(json.dumps(TINY))
        d, why = llmxl.released_dtype(str(path))
        assert d.id == "w16a16e16"
        assert why.startswith("bf16 assumed")
        path.write_text(json.dumps({**TINY, "quantization_config": {"quant_method": "hqq"}}))
        with pytest.raises(InvalidInputError, match="hqq"):
            llmxl.estimate(str(path), "h100-sxm-80gb", prompt_tokens=8, completion_tokens=8)
        assert llmxl.estimate(str(path), "h100-sxm-80gb", dtype="bf16", prompt_tokens=8, completion_tokens=8)

    def test_user_catalog_entry_reads_torch_dtype(self, tmp_path):
        path = tmp_path / "catalog.toml"
        body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in TINY.items())
        path.write_text(f'[[models]]\nid = "tiny-fp8"\n{body}\n\n[models.quantization_config]\nquant_method = "fp8"\n')
        llmxl.add_catalog_file(path)
        assert llmxl.get_model("tiny-fp8").released.dtype == "w8a8e16-fp8-kv16"


class TestCatalogRecords:
    def test_every_model_records_a_released_precision_that_resolves(self):
        missing = []
        for ident in llmxl.models():
            m = llmxl.get_model(ident)
            if m.released is None:
                missing.append(ident)
                continue
            for part in (m.released, *m.released_variants):
                assert part.read and (part.source or part.dtype is None), ident  # a dtype comes with its source
                if part.dtype is not None:
                    llmxl.get_dtype(part.dtype)
        # Only models whose config.json copy was never read (or whose weights were never published) fall back to bf16
        assert set(missing) <= {"falcon-40b", "gpt-3-175b", "llama-3-70b", "llama-3.3-70b", "opt-13b", "opt-66b",
                                "phi-3-mini-4k", "qwen2.5-72b"}  # fmt: skip

    def test_released_dtype_must_be_a_catalog_dtype(self, tmp_path):
        path = tmp_path / "bad.toml"
        body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in TINY.items())
        path.write_text(f'[[models]]\nid = "bad"\n{body}\n\n[models.released]\ndtype = "fp7"\nread = "x"\n')
        with pytest.raises(CatalogError, match=r"released\.dtype 'fp7' is not a catalog dtype"):
            llmxl.add_catalog_file(path)

    def test_a_variant_must_name_an_alias(self, tmp_path):
        path = tmp_path / "bad.toml"
        body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in TINY.items())
        path.write_text(
            f'[[models]]\nid = "bad"\n{body}\n\n[[models.released_variants]]\naliases = ["org/bad-FP8"]\n'
            'dtype = "fp8"\nread = "x"\n'
        )
        with pytest.raises(CatalogError, match="not an alias"):
            llmxl.add_catalog_file(path)
        assert "bad" not in llmxl.models()
        assert not catalog.get_catalog().variants.get("org/bad-fp8")


class TestFaces:
    def run(self, capsys, *argv):
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    def test_cli_estimate_names_the_released_dtype(self, capsys):
        out = self.run(capsys, "estimate", "--model", "gpt-oss-120b", "--gpu", "h200-sxm-141gb", "--prompt", "100",
                       "--completion", "10")  # fmt: skip
        assert "dtype mxfp4 (as released)" in out.splitlines()[0]
        out = self.run(capsys, "estimate", "--model", "gpt-oss-120b", "--gpu", "h200-sxm-141gb", "--prompt", "100",
                       "--completion", "10", "--dtype", "mxfp4", "--json")  # fmt: skip
        doc = json.loads(out)
        assert (doc["dtype"], doc["dtype_basis"]) == ("mxfp4", "given")

    def test_cli_plan_names_the_released_dtype(self, capsys):
        out = self.run(capsys, "plan", "--model", "gpt-oss-120b", "--gpu", "h200-sxm-141gb", "--prompt", "1000",
                       "--completion", "300", "--rps", "5", "--peak-rps", "15", "--ttft", "0.5", "--itl", "0.05")  # fmt: skip
        assert "dtype mxfp4 (as released)" in out
        assert "Recommended: 2 × h200-sxm-141gb" in out

    def test_report_uses_each_models_release(self, capsys, tmp_path):
        import csv

        out = tmp_path / "r.csv"
        self.run(capsys, "report", "--model", "gpt-oss-20b,llama-3.1-8b", "--gpu", "h200-sxm-141gb", "--prompt",
                 "128", "--completion", "16", "--csv", str(out))  # fmt: skip
        rows = list(csv.DictReader(out.open()))
        assert {(r["model"], r["dtype"]) for r in rows} == {("gpt-oss-20b", "mxfp4"), ("llama-3.1-8b", "w16a16e16")}

    def test_report_workbook_blank_dtype_means_each_release(self, tmp_path, capsys):
        from openpyxl import load_workbook

        out = tmp_path / "r.xlsx"
        self.run(capsys, "report", "--model", "gpt-oss-20b,llama-3.1-8b", "--gpu", "h200-sxm-141gb", "--prompt",
                 "128", "--completion", "16", "-o", str(out), "--no-progress")  # fmt: skip
        calc = load_workbook(out, data_only=True)["Calc"]  # the cached values of the formulas
        assert [calc.cell(r, 1).value for r in (3, 4)] == ["gpt-oss-20b", "llama-3.1-8b"]
        assert [calc.cell(r, 3).value for r in (3, 4)] == ["mxfp4", "w16a16e16"]
        formulas = load_workbook(out)["Calc"]
        assert formulas.cell(3, 3).value.startswith('=IF(llm_dtype=""')  # a dtype typed in overrides both

    def test_udf_blank_dtype_is_the_release(self):
        with windows_xlwings() as (module, _):
            rows = call_as_excel(module.LLM_ESTIMATE, "gpt-oss-120b", "h200-sxm-141gb", 1, 1000, 300)
        assert ["Dtype", "mxfp4"] in rows
