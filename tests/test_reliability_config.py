"""Hostile config.json and catalog entries (issue 19): layout fields typed and ranged, layouts counted in
closed form, new model families against their cards, refusals, a bad entry that breaks nothing else, and
models from configs with ids of their own."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import pytest

import llmxl
from llmxl import CatalogError, LlmxlError, ModelSpec, catalog
from llmxl.cli import main
from llmxl.hf_schema import CANNOT_REPRESENT, FAMILIES

from .conftest import ROOT

CONFIGS = ROOT / "tests" / "data" / "configs"
DENSE = {"model_type": "llama", "num_hidden_layers": 8, "hidden_size": 64, "num_attention_heads": 4,
         "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 512}  # fmt: skip
DEEPSEEK = {**DENSE, "model_type": "deepseek_v3", "n_routed_experts": 8, "num_experts_per_tok": 2,
            "moe_intermediate_size": 32, "n_shared_experts": 1, "first_k_dense_replace": 1, "moe_layer_freq": 1}  # fmt: skip
QWEN_MOE = {**DENSE, "model_type": "qwen2_moe", "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
            "shared_expert_intermediate_size": 64, "decoder_sparse_step": 1, "mlp_only_layers": []}  # fmt: skip
LLAMA4 = {**DENSE, "model_type": "llama4_text", "num_local_experts": 8, "num_experts_per_tok": 1,
          "interleave_moe_layer_step": 2, "attention_chunk_size": 64, "no_rope_layer_interval": 4}  # fmt: skip


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- layout fields: typed and ranged, the field, the value and the fix in one line ------------------


@pytest.mark.parametrize(
    ("base", "change", "field"),
    [
        (LLAMA4, {"interleave_moe_layer_step": "x"}, "interleave_moe_layer_step"),
        (LLAMA4, {"interleave_moe_layer_step": [1]}, "interleave_moe_layer_step"),
        (LLAMA4, {"interleave_moe_layer_step": 0.5}, "interleave_moe_layer_step"),
        (LLAMA4, {"interleave_moe_layer_step": 0}, "interleave_moe_layer_step"),
        (LLAMA4, {"interleave_moe_layer_step": -1}, "interleave_moe_layer_step"),  # was: silently dense
        (DEEPSEEK, {"first_k_dense_replace": "x"}, "first_k_dense_replace"),
        (DEEPSEEK, {"first_k_dense_replace": [1]}, "first_k_dense_replace"),
        (DEEPSEEK, {"first_k_dense_replace": 0.5}, "first_k_dense_replace"),
        (DEEPSEEK, {"first_k_dense_replace": -1}, "first_k_dense_replace"),
        (DEEPSEEK, {"first_k_dense_replace": 9}, "first_k_dense_replace"),  # more than the 8 layers
        (DEEPSEEK, {"moe_layer_freq": 0.5}, "moe_layer_freq"),  # was: ZeroDivisionError
        (DEEPSEEK, {"moe_layer_freq": -1}, "moe_layer_freq"),  # was: accepted
        (DEEPSEEK, {"moe_layer_freq": 0}, "moe_layer_freq"),
        (DEEPSEEK, {"moe_layer_freq": [1, 0]}, "moe_layer_freq"),  # a per-layer list of the wrong length
        (QWEN_MOE, {"decoder_sparse_step": 0.5}, "decoder_sparse_step"),  # was: ZeroDivisionError
        (QWEN_MOE, {"decoder_sparse_step": 0}, "decoder_sparse_step"),
        (QWEN_MOE, {"mlp_only_layers": 5}, "mlp_only_layers"),
        (QWEN_MOE, {"mlp_only_layers": [[1]]}, "mlp_only_layers"),
        (QWEN_MOE, {"mlp_only_layers": [8]}, "mlp_only_layers"),
        (QWEN_MOE, {"num_experts": 8.0}, "num_experts"),
        (LLAMA4, {"no_rope_layer_interval": 0.5}, "no_rope_layer_interval"),  # was: ZeroDivisionError
        (LLAMA4, {"no_rope_layer_interval": 0}, "no_rope_layer_interval"),
        (LLAMA4, {"no_rope_layers": [1, 0]}, "no_rope_layers"),
        (LLAMA4, {"no_rope_layers": [2] * 8}, "no_rope_layers"),
        (LLAMA4, {"moe_layers": ["a"]}, "moe_layers"),
        (DENSE, {"layer_types": [{}] * 8, "sliding_window": 16}, "layer_types"),
        (DENSE, {"layer_types": ["full_attention"] * 7}, "layer_types"),
        (DENSE, {"sliding_window": 16, "sliding_window_pattern": 0}, "sliding_window_pattern"),
        (DENSE, {"sliding_window": "16"}, "sliding_window"),
        (DENSE, {"use_sliding_window": "no", "sliding_window": 16}, "use_sliding_window"),
        (DENSE, {"multi_query": 1, "num_key_value_heads": None}, "multi_query"),
        (DENSE, {"model_type": 5}, "model_type"),
        (DENSE, {"text_config": [1]}, "text_config"),
        ({**DENSE, "kv_lora_rank": "512"}, {}, "kv_lora_rank"),
    ],
)
def test_a_layout_field_of_the_wrong_type_or_range_names_field_value_and_fix(base, change, field):
    config = {k: v for k, v in {**base, **change}.items() if v is not None}
    with pytest.raises(CatalogError) as info:
        ModelSpec.from_hf_config(config)
    message = info.value.message
    assert field in message and "\n" not in message
    assert any(w in message for w in ("must be", "is not", "entries for", "has ")), message


def _deepseek_moe_layers(L, first, freq):  # the per-layer rule of transformers' DeepseekV3DecoderLayer
    return sum(1 for i in range(L) if i >= first and i % freq == 0)


def _qwen_moe_layers(L, step, dense):  # Qwen2MoeDecoderLayer
    return sum(1 for i in range(L) if i not in dense and (i + 1) % step == 0)


def _ernie_moe_layers(L, start, end, interval):  # Ernie4_5_MoeDecoderLayer
    end = L - 1 if end < 0 else end
    return sum(1 for i in range(L) if (i + 1) % interval == 0 and start <= i <= end)


@pytest.mark.parametrize("L", [1, 2, 3, 7, 8, 61])
@pytest.mark.parametrize("first", [0, 1, 3])
@pytest.mark.parametrize("freq", [1, 2, 3])
def test_closed_form_layouts_count_what_the_per_layer_rules_count(L, first, freq):
    if first > L:
        return
    spec = ModelSpec.from_hf_config({**DEEPSEEK, "num_hidden_layers": L, "first_k_dense_replace": first,
                                     "moe_layer_freq": freq}, id="x")  # fmt: skip
    assert (spec.moe.num_moe_layers if spec.moe else 0) == _deepseek_moe_layers(L, first, freq)
    dense = [0, L - 1] if L > 2 else []
    spec = ModelSpec.from_hf_config({**QWEN_MOE, "num_hidden_layers": L, "decoder_sparse_step": freq,
                                     "mlp_only_layers": dense}, id="x")  # fmt: skip
    assert (spec.moe.num_moe_layers if spec.moe else 0) == _qwen_moe_layers(L, freq, set(dense))
    for end in (-1, L - 1, max(0, L - 2)):
        cfg = {**DENSE, "model_type": "ernie4_5_moe", "num_hidden_layers": L, "moe_num_experts": 8, "moe_k": 2,
               "moe_intermediate_size": 32, "moe_layer_start_index": min(first, L - 1), "moe_layer_end_index": end,
               "moe_layer_interval": freq}  # fmt: skip
        spec = ModelSpec.from_hf_config(cfg, id="x")
        want = _ernie_moe_layers(L, min(first, L - 1), end, freq)
        assert (spec.moe.num_moe_layers if spec.moe else 0) == want
    spec = ModelSpec.from_hf_config({**LLAMA4, "num_hidden_layers": L, "interleave_moe_layer_step": freq,
                                     "no_rope_layer_interval": freq + 1}, id="x")  # fmt: skip
    assert spec.moe.num_moe_layers == len(list(range(freq - 1, L, freq))) if spec.moe else freq > L
    nope = [int((i + 1) % (freq + 1) != 0) for i in range(L)]  # transformers' Llama4TextConfig
    assert (spec.attention.num_sliding_layers if spec.attention else 0) == sum(nope)


@pytest.mark.parametrize("base", [DEEPSEEK, QWEN_MOE, LLAMA4], ids=["deepseek", "qwen2_moe", "llama4"])
def test_a_billion_layers_answer_at_once(base):
    start = time.perf_counter()
    spec = ModelSpec.from_hf_config({**base, "num_hidden_layers": 10**9}, id="deep")
    assert spec.moe.num_moe_layers > 0 and spec.total_parameters > 10**12
    with pytest.raises(llmxl.DoesNotFitError):
        llmxl.estimate(spec, "b200", prompt_tokens=8, completion_tokens=8)
    assert time.perf_counter() - start < 2  # was: no answer in 20 s


# --- a bad user-catalog entry: said when used, never breaks anything else --------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"interleave_moe_layer_step": "x"},
        {"first_k_dense_replace": [1]},
        {"moe_layer_freq": 0.5},
        {"decoder_sparse_step": 0.5},
        {"mlp_only_layers": 5},
        {"layer_types": [{}]},
        {"no_rope_layer_interval": 0.5},
    ],
)
def test_a_bad_catalog_entry_breaks_only_itself(tmp_path, monkeypatch, capsys, bad):
    entry = {**QWEN_MOE, **bad}
    if "no_rope_layer_interval" in bad:
        entry["attention_chunk_size"] = 64
    lines = ["[[models]]", 'id = "broken"'] + [f"{k} = {json.dumps(v)}" for k, v in entry.items()]
    lines += ["[[models]]", 'id = "fine"'] + [f"{k} = {json.dumps(v)}" for k, v in DENSE.items()]
    path = tmp_path / "catalog.toml"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv(catalog.ENV_VAR, str(path))
    catalog.reset()
    field = next(iter(bad))
    assert "fine" in llmxl.models() and "broken" not in llmxl.models()
    assert llmxl.estimate("fine", "h100-sxm-80gb", prompt_tokens=16, completion_tokens=16).ttft_s > 0
    with pytest.raises(CatalogError, match=field) as info:
        llmxl.estimate("broken", "h100-sxm-80gb", prompt_tokens=16, completion_tokens=16)
    assert str(path) in info.value.message
    code, out, err = run(capsys, "catalog", "models")
    assert code == 0 and "fine" in out and field in err
    code, _, err = run(capsys, "estimate", "--model", "broken", "--gpu", "h100-sxm-80gb", "--prompt", "8",
                        "--completion", "8")  # fmt: skip
    assert code == 2 and field in err and err.count("\n") == 1
    from .xlwings_harness import call_as_excel, functions, windows_xlwings

    with windows_xlwings() as (module, _):
        funcs = functions(module)
        assert isinstance(call_as_excel(funcs["LLM_TTFT"], "fine", "h100-sxm-80gb", 1.0, 16.0, 16.0), float)
        cell = call_as_excel(funcs["LLM_TTFT"], "broken", "h100-sxm-80gb", 1.0, 16.0, 16.0)
        assert isinstance(cell, str) and cell.startswith("#VALUE!") and field in cell


# --- model families: real configs against their cards; refusals naming the field ---------------------


def _non_embedding_active(spec: ModelSpec) -> int:
    return spec.active_parameters - spec.vocab_size * spec.hidden_size * (1 if spec.tie_word_embeddings else 2)


def test_glm_4_5_matches_its_card():
    # zai-org/GLM-4.5 model card: "355 billion total parameters with 32 billion active parameters"; the
    # technical report's Table 1: 3 dense layers, 89 MoE layers. The card's active count leaves out the
    # embedding and output head; the MTP layer (num_nextn_predict_layers) is not counted here.
    spec = ModelSpec.from_hf_config(CONFIGS / "zai-org--GLM-4.5_config.json")
    assert spec.moe.num_moe_layers == 89 and spec.moe.shared_intermediate_size == 1536 and spec.gated_mlp
    assert spec.total_parameters == pytest.approx(355e9, rel=0.02)
    assert _non_embedding_active(spec) == pytest.approx(32e9, rel=0.02)


def test_minimax_m2_5_matches_its_report():
    # MiniMax-M2.5: 229.9B total parameters, 9.8B activated per token (MiniMax's report, as summarised at
    # emergentmind.com/topics/minimax-m2-5); full attention in every layer, 256 experts, top-8.
    spec = ModelSpec.from_hf_config(CONFIGS / "MiniMaxAI--MiniMax-M2.5_config.json")
    assert spec.moe.num_moe_layers == 62 and spec.attention is None and spec.moe.shared_intermediate_size == 0
    assert spec.total_parameters == pytest.approx(229.9e9, rel=0.02)
    assert _non_embedding_active(spec) == pytest.approx(9.8e9, rel=0.02)


def test_granite_moe_matches_its_card_to_the_digits_it_gives():
    # ibm-granite/granite-3.1-1b-a400m-instruct card, "Model Architecture" table: 1.3B parameters, 400M
    # active (given to two and one significant digits); 32 experts, top 8, every layer MoE, tied embeddings.
    spec = ModelSpec.from_hf_config(CONFIGS / "ibm-granite--granite-3.1-1b-a400m-instruct_config.json")
    assert spec.moe.num_moe_layers == 24 and spec.moe.expert_intermediate_size == 512 and spec.tie_word_embeddings
    assert round(spec.total_parameters / 1e9, 1) == 1.3
    assert round(spec.active_parameters / 1e8) == 4


def test_families_whose_fields_other_configs_spell_otherwise():
    ling = ModelSpec.from_hf_config(CONFIGS / "inclusionAI--Ling-flash-2.0_config.json")
    assert ling.moe.shared_intermediate_size == 1024 and ling.moe.num_moe_layers == 31  # was: shared expert missed
    ernie = ModelSpec.from_hf_config(CONFIGS / "baidu--ERNIE-4.5-21B-A3B-Thinking_config.json")
    assert (ernie.moe.num_experts, ernie.moe.experts_per_token, ernie.moe.num_moe_layers) == (64, 6, 27)
    assert ernie.moe.shared_intermediate_size == 2 * 1536  # was: read as a dense model of 3.35B
    minicpm = ModelSpec.from_hf_config(CONFIGS / "openbmb--MiniCPM-MoE-8x2B_config.from-mlc-preset.json")
    assert minicpm.moe.num_moe_layers == 40 and minicpm.moe.num_experts == 8
    step = {**DENSE, "model_type": "step3p7", "gated_mlp": True, "num_experts": 8, "num_experts_per_tok": 2,
            "moe_intermediate_size": 32, "first_k_dense_replace": 1}  # fmt: skip
    assert (
        ModelSpec.from_hf_config({**step, "share_expert_dim": 32, "n_shared_experts": 1}).moe.shared_intermediate_size
        == 32
    )
    with pytest.raises(CatalogError, match=r"n_shared_experts.*share_expert_dim"):
        ModelSpec.from_hf_config({**step, "share_expert_dim": 64, "n_shared_experts": 1})


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_every_supported_model_type_knows_its_mlp(model_type):
    config = {**DENSE, "model_type": model_type}
    if FAMILIES[model_type].all_moe:
        config.update(num_local_experts=4, num_experts_per_tok=2)
    spec = ModelSpec.from_hf_config(config, id="x")
    assert spec.gated_mlp is FAMILIES[model_type].gated_mlp
    assert (spec.moe is not None) is FAMILIES[model_type].all_moe


@pytest.mark.parametrize("path", sorted((CONFIGS / "refused").glob("*.json")), ids=lambda p: p.name[:40])
def test_architectures_the_method_cannot_represent_are_refused(path):
    with pytest.raises(CatalogError, match="cannot represent") as info:
        llmxl.estimate(str(path), "h200", prompt_tokens=128, completion_tokens=16)
    data = json.loads(path.read_text())
    text = data.get("text_config", {}).get("model_type") or data["model_type"]
    assert text in info.value.message or any(key in info.value.message for key in CANNOT_REPRESENT)


@pytest.mark.parametrize("field", sorted(CANNOT_REPRESENT))
def test_a_field_the_method_cannot_represent_is_refused_whatever_the_model_type(field):
    with pytest.raises(CatalogError, match=f"{field} is set.*cannot represent"):
        ModelSpec.from_hf_config({**DENSE, field: 1})
    ModelSpec.from_hf_config({**DENSE, field: None}, id="x")  # absent or null: nothing to refuse


def test_linear_attention_layers_in_attn_type_list_are_refused():
    ModelSpec.from_hf_config({**DENSE, "attn_type_list": [1] * 8}, id="x")  # MiniMax-M2.7: all full attention
    with pytest.raises(CatalogError, match="attn_type_list has 0 at layer 3"):
        ModelSpec.from_hf_config({**DENSE, "attn_type_list": [1, 1, 1, 0, 1, 1, 1, 1]})


# --- identity: every config model its own id; the workbook carries its figures ------------------------


def _write(path: Path, config: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return str(path)


def test_two_unnamed_configs_are_two_report_rows(capsys, tmp_path):
    a = _write(tmp_path / "a" / "config.json", DENSE)
    b = _write(tmp_path / "b" / "config.json", {**DENSE, "num_hidden_layers": 4})
    out = tmp_path / "r.csv"
    code, _, err = run(capsys, "report", "--model", a, "--model", b, "--gpu", "a100-sxm-80gb", "--prompt", "16",
                       "--completion", "16", "--csv", str(out))  # fmt: skip
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert [r["model"] for r in rows] == [a, b]  # was: both "custom-model", one row
    assert float(rows[0]["ttft_s"]) != float(rows[1]["ttft_s"])
    same = _write(tmp_path / "c" / "config.json", {**DENSE, "_name_or_path": "mine"})
    other = _write(tmp_path / "d" / "config.json", {**DENSE, "_name_or_path": "mine", "num_hidden_layers": 2})
    code, _, err = run(capsys, "report", "--model", same, "--model", other, "--gpu", "a100-sxm-80gb", "--prompt",
                       "16", "--completion", "16", "--csv", str(out), "--force")  # fmt: skip
    assert code == 0, err
    assert [r["model"] for r in csv.DictReader(out.open())] == ["mine", other]


def test_a_config_named_like_a_catalog_model_keeps_its_own_figures(capsys, tmp_path):
    from openpyxl import load_workbook

    small = {**DENSE, "_name_or_path": "llama-2-7b"}  # the catalog's name, other dimensions
    cfg = _write(tmp_path / "config.json", small)
    spec = llmxl.estimate(cfg, "a100-sxm-80gb", prompt_tokens=16, completion_tokens=16)
    assert spec.model == cfg and spec.total_parameters < 10**7
    assert llmxl.estimate(small, "a100-sxm-80gb", prompt_tokens=16, completion_tokens=16).model == "llama-2-7b (config)"
    xlsx, out = tmp_path / "r.xlsx", tmp_path / "r.csv"
    code, _, err = run(capsys, "report", "--model", cfg, "--gpu", "a100-sxm-80gb", "--prompt", "16", "--completion",
                       "16", "-o", str(xlsx), "--csv", str(out), "--no-progress")  # fmt: skip
    assert code == 0, err
    row = next(csv.DictReader(out.open()))
    wb = load_workbook(xlsx, data_only=True)
    report = wb["Report"]
    assert report["A4"].value == cfg and report["F4"].value == pytest.approx(float(row["ttft_s"]), rel=1e-9)
    layers = [r for r in wb["Catalog"].iter_rows(values_only=True) if r and r[0] == cfg]
    assert layers and DENSE["num_hidden_layers"] in layers[0]  # the config's 8 layers, not the catalog's 32


@pytest.mark.parametrize("name", ["a\ud800b", "x\uffff", "evil\u202e\u009b[2J", "", 5, "n" * 500])
def test_an_unusable_name_or_path_gives_way_to_the_path(capsys, tmp_path, name):
    cfg = _write(tmp_path / "cfg.json", {**DENSE, "_name_or_path": name})
    e = llmxl.estimate(cfg, "a100-sxm-80gb", prompt_tokens=16, completion_tokens=16)
    assert e.model == cfg and math.isfinite(e.ttft_s)
    code, out, err = run(capsys, "estimate", "--model", cfg, "--gpu", "a100-sxm-80gb", "--prompt", "16",
                         "--completion", "16")  # fmt: skip
    assert code == 0 and out.startswith(cfg), err
    code, _, err = run(capsys, "report", "--model", cfg, "--gpu", "a100-sxm-80gb", "--prompt", "16", "--completion",
                       "16", "-o", str(tmp_path / "r.xlsx"), "--csv", str(tmp_path / "r.csv"), "--no-progress")  # fmt: skip
    assert code == 0, err
    code, _, err = run(capsys, "plan", "--model", cfg, "--gpu", "a100-sxm-80gb", "--prompt", "16", "--completion",
                       "16", "--rps", "1", "--gpu-hour-usd", "2")  # fmt: skip
    assert code == 0, err


def test_a_plan_workbook_of_a_config_carries_its_figures(capsys, tmp_path):
    from openpyxl import load_workbook

    cfg = _write(tmp_path / "config.json", {**DENSE, "_name_or_path": "llama-3.1-8b"})
    xlsx = tmp_path / "p.xlsx"
    code, _, err = run(capsys, "plan", "--model", cfg, "--gpu", "h100-sxm-80gb", "--prompt", "16", "--completion",
                       "16", "--rps", "1", "--tp", "1", "--gpu-hour-usd", "2", "-o", str(xlsx))  # fmt: skip
    assert code == 0, err
    # the Load sheet is the config's load model, not that of the catalog model it names
    wb = load_workbook(xlsx, data_only=True)
    shape = dict(prompt_tokens=16, completion_tokens=16, requests_per_s=1, tp=1, gpu_hour_usd=2)
    own, named = (llmxl.plan(m, "h100-sxm-80gb", **shape).rows[0] for m in (cfg, "llama-3.1-8b"))
    load = wb["Load"]
    sheet, cell = next(iter(wb.defined_names["plan_model"].destinations))
    assert wb[sheet][cell].value == cfg and load["B6"].value == 1
    assert load[f"C{5 + own.concurrency}"].value == pytest.approx(own.requests_per_s, rel=1e-12)
    assert own.requests_per_s != pytest.approx(named.requests_per_s, rel=1e-3)


def test_a_nul_byte_in_a_config_path_is_refused(tmp_path):
    with pytest.raises(LlmxlError):
        llmxl.estimate(str(tmp_path / "con\0fig.json"), "a100-sxm-80gb", prompt_tokens=16, completion_tokens=16)
    with pytest.raises(LlmxlError):
        llmxl.add_catalog_file(str(tmp_path / "cat\0.toml"))


def test_a_config_file_whose_name_is_not_utf8_reaches_every_output(capsys, tmp_path):
    import os

    cfg = _write(tmp_path / os.fsdecode(b"cfg\xff.json"), DENSE)  # how Python hands over such a file name
    xlsx, out = tmp_path / "r.xlsx", tmp_path / "r.csv"
    code, stdout, err = run(capsys, "report", "--model", cfg, "--gpu", "a100-sxm-80gb", "--prompt", "16",
                            "--completion", "16", "-o", str(xlsx), "--csv", str(out), "--no-progress")  # fmt: skip
    assert code == 0, err  # was: UnicodeEncodeError writing the xlsx
    assert "\ufffd" in next(csv.DictReader(out.open()))["model"]
    code, stdout, err = run(capsys, "plan", "--model", cfg, "--gpu", "a100-sxm-80gb", "--prompt", "16",
                            "--completion", "16", "--rps", "1", "--gpu-hour-usd", "2", "-o", str(tmp_path / "p.xlsx"))  # fmt: skip
    assert code == 0, err
    stdout.encode("utf-8")
