"""The catalog: every entry loads, facts are as published, names resolve, user files are checked."""

from __future__ import annotations

import json
import textwrap
import tomllib

import pytest

import llmxl
from llmxl import CatalogError, UnknownNameError, catalog
from llmxl.specs import ModelSpec

REQUIRED_MODELS = [
    "llama-2-7b",
    "llama-2-13b",
    "llama-2-70b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "mistral-7b",
    "qwen2.5-7b",
    "qwen2.5-72b",
    "opt-13b",
    "gpt-3-175b",
]
REQUIRED_GPUS = [
    "a100-sxm-40gb",
    "a100-sxm-80gb",
    "a100-pcie-80gb",
    "h100-sxm-80gb",
    "h100-pcie-80gb",
    "h200-sxm-141gb",
    "b200",
    "l40s",
    "l4",
    "a10g",
    "mi300x",
]

# Parameter counts published with each model (shared/catalog-facts.md, "params"), in billions.
# The methodology counts one embedding table; an untied output head adds V*h more.
PUBLISHED_PARAMS_B = {
    "llama-2-7b": 6.74,
    "llama-2-13b": 13.0,
    "llama-2-70b": 69.0,
    "llama-3-8b": 8.03,
    "llama-3-70b": 70.6,
    "llama-3.1-8b": 8.03,
    "llama-3.1-70b": 70.6,
    "llama-3.1-405b": 405.9,
    "llama-3.2-1b": 1.24,
    "llama-3.2-3b": 3.21,
    "mistral-7b": 7.24,
    "qwen2.5-7b": 7.6,
    "qwen2.5-14b": 14.8,
    "qwen2.5-32b": 32.8,
    "qwen2.5-72b": 72.7,
    "phi-3-mini-4k": 3.8,
    "opt-13b": 12.9,
    "opt-66b": 65.7,
    "falcon-40b": 41.3,
    "gpt-3-175b": 175.0,
}


def test_required_entries_exist():
    assert set(REQUIRED_MODELS) <= set(llmxl.models())
    assert set(REQUIRED_GPUS) <= set(llmxl.gpus())


def test_a100_sxm_80gb_is_exactly_the_published_tables_gpu():
    g = llmxl.get_gpu("a100-sxm-80gb")
    assert (
        g.memory_gib,
        g.hbm_bandwidth_gbs,
        g.fp16_tflops,
        g.int8_tops,
        g.int4_tops,
        g.interconnect_gbs,
        g.interconnect_latency_s,
    ) == (80, 2039, 312, 624, 1248, 300, 8e-6)


@pytest.mark.parametrize("model_id", sorted(PUBLISHED_PARAMS_B))
def test_parameter_count_matches_publication(model_id):
    m = llmxl.get_model(model_id)
    count = m.num_parameters + (0 if m.tie_word_embeddings else m.vocab_size * m.hidden_size)
    assert count / 1e9 == pytest.approx(PUBLISHED_PARAMS_B[model_id], rel=0.01)


def test_every_builtin_file_is_sorted_dated_and_sourced():
    for res, label in catalog.builtin_files():
        data = tomllib.loads(res.read_text(encoding="utf-8"))
        for kind, entries in data.items():
            if not isinstance(entries, list):  # a setting of the file, such as engines.toml's default_engine
                continue
            ids = [e["id"] for e in entries]
            if kind != "dtypes":
                assert ids == sorted(ids, key=catalog.natural_key), f"{label}: not sorted"
                for e in entries:
                    assert e["source"] and e["checked"], f"{label}: {e['id']} lacks source/checked"
            assert all(i == i.lower() and " " not in i for i in ids)


def test_prices_carry_provider_and_date():
    for gid in llmxl.gpus():
        g = llmxl.get_gpu(gid)
        if g.usd_per_hour is not None:
            assert g.usd_per_hour_source and g.usd_per_hour_checked, gid


def test_gpus_without_int4_say_so():
    assert llmxl.get_gpu("h100-sxm-80gb").int4_tops is None
    assert llmxl.get_gpu("a100-sxm-80gb").peak_tflops("int4") == 1248


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Llama-2-70B", "llama-2-70b"),
        ("meta-llama/Llama-2-70b-hf", "llama-2-70b"),
        ("  llama 2 70b ", "llama-2-70b"),
        ("Qwen/Qwen2.5-72B", "qwen2.5-72b"),
        ("facebook/opt-13b", "opt-13b"),
    ],
)
def test_model_names_and_aliases(name, expected):
    assert llmxl.get_model(name).id == expected


def test_dtype_aliases_and_any_wxayez():
    assert llmxl.get_dtype("fp16").id == "w16a16e16"
    assert llmxl.get_dtype("BF16").id == "w16a16e16"
    assert llmxl.get_dtype("int4-weight-only").id == "w4a16e16"
    assert llmxl.get_dtype("w4a8e16").compute_kind == "int8"


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match=r"unknown gpu 'h100'; did you mean .*'h100-sxm-80gb'"):
        llmxl.get_gpu("h100")
    with pytest.raises(UnknownNameError, match=r"did you mean 'llama-2-70b'"):
        llmxl.get_model("lama-2-70b")


def test_hf_config_spellings(tmp_path):
    gpt2 = {
        "model_type": "gpt2",
        "n_layer": 12,
        "n_embd": 768,
        "n_head": 12,
        "n_positions": 1024,
        "vocab_size": 50257,
        "n_inner": None,
    }
    spec = ModelSpec.from_hf_config(gpt2, id="gpt2")
    assert (spec.num_hidden_layers, spec.intermediate_size, spec.num_key_value_heads, spec.gated_mlp) == (
        12,
        3072,
        12,
        False,
    )
    falcon = {
        "model_type": "falcon",
        "num_hidden_layers": 32,
        "hidden_size": 4544,
        "num_attention_heads": 71,
        "multi_query": True,
        "vocab_size": 65024,
        "max_position_embeddings": 2048,
    }
    assert ModelSpec.from_hf_config(falcon).num_key_value_heads == 1


@pytest.mark.parametrize(
    ("config", "text"),
    [
        (
            {
                "model_type": "weird",
                "num_hidden_layers": 2,
                "hidden_size": 8,
                "num_attention_heads": 2,
                "vocab_size": 10,
                "max_position_embeddings": 16,
            },
            'add "gated_mlp"',
        ),
        (
            {
                "model_type": "llama",
                "num_hidden_layers": 2,
                "hidden_size": 8,
                "num_attention_heads": 2,
                "vocab_size": 10,
            },
            "missing max_position_embeddings",
        ),
        (
            {
                "model_type": "mixtral",
                "num_local_experts": 8,
                "num_hidden_layers": 2,
                "hidden_size": 8,
                "num_attention_heads": 2,
                "vocab_size": 10,
                "max_position_embeddings": 16,
            },
            "num_local_experts=8 names a mixture of experts but num_experts_per_tok is missing",
        ),
        (
            {
                "model_type": "gemma2",
                "gated_mlp": True,
                "head_dim": 0,
                "num_hidden_layers": 2,
                "hidden_size": 8,
                "num_attention_heads": 2,
                "vocab_size": 10,
                "max_position_embeddings": 16,
            },
            "head_dim",
        ),
        (
            {
                "model_type": "llama",
                "num_hidden_layers": -2,
                "hidden_size": 8,
                "num_attention_heads": 2,
                "vocab_size": 10,
                "max_position_embeddings": 16,
            },
            "num_hidden_layers",
        ),
    ],
)
def test_bad_configs_are_refused_with_the_reason(config, text):
    with pytest.raises(CatalogError, match=text):
        ModelSpec.from_hf_config(config)


def test_config_json_file_errors_name_the_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(CatalogError, match=r"config\.json"):
        ModelSpec.from_hf_config(path)


def _write(tmp_path, text, name="catalog.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_user_catalog_via_environment(tmp_path, monkeypatch):
    (tmp_path / "cfg.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "num_hidden_layers": 4,
                "hidden_size": 256,
                "num_attention_heads": 4,
                "intermediate_size": 512,
                "vocab_size": 1000,
                "max_position_embeddings": 2048,
            }
        )
    )
    path = _write(
        tmp_path,
        """
        [[models]]
        id = "acme-small"
        config = "cfg.json"

        [[models]]
        id = "acme-inline"
        model_type = "opt"
        num_hidden_layers = 2
        hidden_size = 64
        num_attention_heads = 4
        ffn_dim = 256
        vocab_size = 100
        max_position_embeddings = 512

        [[gpus]]
        id = "acme-gpu"
        memory_gib = 16
        hbm_bandwidth_gbs = 500
        fp16_tflops = 100
        int8_tops = 200
        interconnect_gbs = 32
        usd_per_hour = 0.5
    """,
    )
    monkeypatch.setenv(catalog.ENV_VAR, str(path))
    catalog.reset()
    assert "acme-small" in llmxl.models() and "acme-gpu" in llmxl.gpus()
    e = llmxl.estimate("ACME-small", "acme-gpu", prompt_tokens=128, completion_tokens=16)
    assert e.usd_per_1k_completion_tokens is not None
    assert llmxl.get_model("acme-inline").intermediate_size == 256
    assert llmxl.get_gpu("acme-gpu").source == str(path)


@pytest.mark.parametrize(
    ("body", "expected", "name"),
    [
        (
            '[[gpus]]\nid = "g1"\nmemory_gib = -1\nhbm_bandwidth_gbs = 1\nfp16_tflops = 1\nint8_tops = 1\n'
            "interconnect_gbs = 1\n",
            r"gpu 'g1': field 'memory_gib'",
            ("gpu", "g1"),
        ),
        (
            '[[gpus]]\nid = "g2"\nmemory_gib = 1\nhbm_bandwidth_gbs = 1\nfp16_tflops = 1\nint8_tops = 1\n'
            "interconnect_gbs = 1\nspeed = 3\n",
            r"gpu 'g2': unknown field 'speed'",
            ("gpu", "g2"),
        ),
        ('[[gpus]]\nid = "g3"\nmemory_gib = 1\n', r"gpu 'g3': field 'hbm_bandwidth_gbs' is missing", ("gpu", "g3")),
        (
            '[[models]]\nid = "llama-2-70b"\nmodel_type = "llama"\nnum_hidden_layers = 1\nhidden_size = 8\n'
            "num_attention_heads = 2\nvocab_size = 2\nmax_position_embeddings = 8\n",
            r"already used by model 'llama-2-70b'",
            ("model", "llama-2-70b"),
        ),
        ('[[gizmos]]\nid = "x"\n', r"unknown table 'gizmos'", ("gpu", "x")),
        ("[[gpus]\n", "not valid TOML", ("gpu", "mine")),
    ],
)
def test_broken_user_catalog_names_file_entry_and_field_when_used(tmp_path, monkeypatch, body, expected, name):
    """A bad entry is said when its name is used; every other entry and command keeps working."""
    path = _write(tmp_path, body)
    monkeypatch.setenv(catalog.ENV_VAR, str(path))
    catalog.reset()
    assert "llama-2-7b" in llmxl.models() and llmxl.get_gpu("h100-sxm-80gb").id == "h100-sxm-80gb"
    assert llmxl.estimate("llama-2-7b", "a100-sxm-80gb", prompt_tokens=8, completion_tokens=8).ttft_s > 0
    assert any(str(path) in p for p in catalog.problems())
    getter = {"gpu": llmxl.get_gpu, "model": llmxl.get_model}[name[0]]
    with pytest.raises((CatalogError, UnknownNameError), match=expected) as info:
        getter(name[1])
    assert str(path) in str(info.value)


def test_add_catalog_file_validates_and_rolls_back(tmp_path):
    bad = _write(tmp_path, '[[gpus]]\nid = "g"\n')
    with pytest.raises(CatalogError):
        catalog.add_catalog_file(bad)
    assert "g" not in llmxl.gpus()
    with pytest.raises(CatalogError, match="does not exist"):
        catalog.add_catalog_file(tmp_path / "nope.toml")


def test_missing_env_file_is_said_with_unknown_names(tmp_path, monkeypatch):
    monkeypatch.setenv(catalog.ENV_VAR, str(tmp_path / "missing.toml"))
    catalog.reset()
    assert "h100-sxm-80gb" in llmxl.gpus()
    with pytest.raises(UnknownNameError, match=r"LLMXL_CATALOG names .*missing\.toml"):
        llmxl.get_gpu("my-own-gpu")


# Published parameter counts (total, active or None) [count] with where each was published. keras-hub's preset
# metadata give the weight count of the converted checkpoint (keras-team/keras-hub@71453d08
# keras_hub/src/models/*/*_presets.py, "params"); the others are the model cards.
KERAS = "keras-team/keras-hub@71453d08 preset metadata params"
CARD_PARAMETERS = {
    "deepseek-r1-distill-llama-8b": (8_030_261_248, None, f"{KERAS}: llama3.1_8b (the distill keeps Llama-3.1-8B)"),
    "deepseek-r1-distill-qwen-32b": (32_763_876_352, None, f"{KERAS}: qwen2.5_instruct_32b_en (its base)"),
    "gemma-2b": (2_506_172_416, None, f"{KERAS}: gemma_2b_en"),
    "gemma-2-2b": (2_614_341_888, None, f"{KERAS}: gemma2_2b_en"),
    "gemma-2-9b": (9_241_705_984, None, f"{KERAS}: gemma2_9b_en"),
    "gemma-3-1b": (999_885_952, None, f"{KERAS}: gemma3_1b"),
    "gemma-3-4b": (3_880_099_328, None, f"{KERAS}: gemma3_4b_text"),
    "gemma-3-12b": (11_765_788_416, None, f"{KERAS}: gemma3_12b_text"),
    "magistral-small-2509": (23_572_403_200, None, f"{KERAS}: magistral_small_2506_en (same architecture)"),
    "mistral-7b-v0.3": (7_248_023_552, None, f"{KERAS}: mistral_0.3_7b_en"),
    "qwen1.5-moe-a2.7b": (14_315_784_192, None, f"{KERAS}: qwen1.5_moe_2.7b_en"),
    "qwen2.5-0.5b": (494_032_768, None, f"{KERAS}: qwen2.5_0.5b_en"),
    "qwen2.5-3b": (3_085_938_688, None, f"{KERAS}: qwen2.5_3b_en"),
    "qwen3-0.6b": (596_049_920, None, f"{KERAS}: qwen3_0.6b_en"),
    "qwen3-1.7b": (1_720_574_976, None, f"{KERAS}: qwen3_1.7b_en"),
    "qwen3-4b": (4_022_468_096, None, f"{KERAS}: qwen3_4b_en"),
    "qwen3-14b": (14_768_307_200, None, f"{KERAS}: qwen3_14b_en"),
    "qwen3-30b-a3b-thinking-2507": (30_532_122_624, None, f"{KERAS}: qwen3_moe_30b_a3b_en"),
    "qwen3-235b-a22b-thinking-2507": (235_093_634_560, None, f"{KERAS}: qwen3_moe_235b_a22b_en"),
    "deepseek-v3": (671e9, 37e9, "deepseek-ai/DeepSeek-V3 README @e975062: 671B total, 37B activated"),
    "deepseek-r1": (671e9, 37e9, "deepseek-ai/DeepSeek-R1 README @00f3296a: 671B total, 37B activated"),
    "deepseek-r1-distill-llama-70b": (70e9, None, "its base Llama-3.3-70B-Instruct: 70B (llama-models MODEL_CARD)"),
    "phi-3-medium-4k": (14e9, None, "microsoft/Phi-3-medium-4k-instruct card: 'a 14B parameters ... model'"),
    "phi-3.5-moe": (None, 6.6e9, "microsoft/Phi-3.5-MoE-instruct card: '6.6B active parameters' (no total)"),
    "phi-4-mini": (3.8e9, None, "microsoft/Phi-4-mini-instruct card: 'has 3.8B parameters'"),
    "qwen3-4b-2507": (4.0e9, None, "Qwen/Qwen3-4B-Instruct-2507 card: 'Number of Parameters: 4.0B'"),
    "gpt-oss-20b": (21e9, None, "openai/gpt-oss README @d21f34e: 21B (active differs by the embedding, methodology)"),
    "gpt-oss-120b": (117e9, None, "openai/gpt-oss README @d21f34e: 117B"),
    "llama-4-maverick": (400e9, 17e9, "meta-llama/llama-models models/llama4/MODEL_CARD.md @038acb9"),
    "llama-4-scout": (109e9, 17e9, "meta-llama/llama-models models/llama4/MODEL_CARD.md @038acb9"),
    "mixtral-8x7b": (46.7e9, 12.9e9, "mistral.ai/news/mixtral-of-experts"),
    "qwen3-30b-a3b": (30.5e9, 3.3e9, "Qwen3-30B-A3B model card"),
    "qwen3-235b-a22b": (235e9, 22e9, "Qwen3-235B-A22B model card"),
    "qwen3-32b": (32.8e9, None, "Qwen3-32B model card"),
    "qwen3-8b": (8.2e9, None, "Qwen3-8B model card"),
}


def test_at_least_the_families_of_the_brief_resolve_offline():
    ids = set(llmxl.models())
    for family in ("qwen3-", "qwen2.5-", "llama-3", "gemma-2-", "gemma-3-", "mistral-", "mixtral-", "ministral-",
                   "deepseek-v3", "deepseek-r1", "deepseek-r1-distill-", "gpt-oss-", "kimi-k2", "glm-4.5", "minimax-m2",
                   "phi-3", "phi-3.5-moe", "phi-4", "phi-4-mini", "ministral-8b", "qwen3-4b-2507", "tinyllama"):  # fmt: skip
        assert any(i.startswith(family) for i in ids), family
    assert len(ids) >= 100


@pytest.mark.parametrize("model_id", llmxl.models())
def test_every_model_resolves_by_id_and_by_each_alias(model_id):
    m = llmxl.get_model(model_id)
    assert m.id == model_id
    for alias in m.aliases:
        assert llmxl.get_model(alias).id == model_id, alias
        assert llmxl.get_model(alias.upper()).id == model_id  # any case
    assert m.source and m.checked is not None


@pytest.mark.parametrize("model_id", sorted(CARD_PARAMETERS))
def test_parameter_count_within_3_percent_of_the_card(model_id):
    total, active, _source = CARD_PARAMETERS[model_id]
    m = llmxl.get_model(model_id)
    if total is not None:  # None: the card publishes only the active count
        assert m.total_parameters == pytest.approx(total, rel=0.03)
    if active is not None:
        assert m.active_parameters == pytest.approx(active, rel=0.03)


def test_new_entries_keep_the_license_of_their_source():
    for ident in ("kimi-k2", "minimax-m2.5", "glm-4.5", "qwen3-14b", "tinyllama-1.1b", "olmoe-1b-7b"):
        assert llmxl.get_model(ident).license in ("Apache-2.0", "MIT", "none stated"), ident
    # transcriptions bundled in PyPI wheels: GenZ (MIT) and litgpt (Apache-2.0)
    for ident, license in (("phi-3-medium-4k", "MIT"), ("phi-3.5-moe", "MIT"), ("ministral-8b", "MIT"),
                           ("phi-4-mini", "Apache-2.0"), ("qwen3-4b-2507", "Apache-2.0"),
                           ("deepseek-r1-distill-llama-70b", "Apache-2.0"), ("deepseek-r1", "Apache-2.0")):  # fmt: skip
        m = llmxl.get_model(ident)
        assert m.license == license and license in m.source, ident
        assert m.released is not None and m.released.source, ident  # released precision with its source
