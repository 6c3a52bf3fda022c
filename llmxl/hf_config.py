"""Reading a Hugging Face ``config.json`` into the fields of a :class:`~llmxl.specs.ModelSpec`.

Real configs spell the same figure several ways (``n_layer``, ``num_layers`` ...), nest the language
model of multimodal checkpoints under ``text_config``, and describe mixture-of-experts layouts,
latent attention and attention windows each in their family's own fields. This module maps them onto
llmxl's fields and refuses, naming the field, what it cannot model. Plain dicts in, plain dicts out:
the spec classes validate the result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .errors import CatalogError, InvalidInputError
from .textfile import read_small_file

__all__ = ["GATED_MLP_BY_MODEL_TYPE", "HF_FIELDS", "model_fields", "normalise_hf_config"]


def model_fields(
    config: Mapping[str, Any] | str | os.PathLike[str], *, id: str | None = None, source: str | None = None
) -> tuple[dict[str, Any], str]:
    """(ModelSpec fields, where they came from) for a config.json path or its dict."""
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        text = read_small_file(path, "model config", "give the path of a Hugging Face config.json")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise CatalogError(
                f"model config {path!r} is not valid JSON ({why}); give the path of a Hugging Face config.json"
            ) from None
        if not isinstance(data, dict):
            raise CatalogError(f"model config {path!r} must hold a JSON object")
        where = path
        source = source or path
    elif isinstance(config, Mapping):
        data = dict(config)
        where = "model config"
        source = source or str(data.get("source") or "user-supplied config")
    else:
        raise InvalidInputError(
            f"model must be a catalog name, a config.json path or a dict, got {type(config).__name__}",
            field="model",
        )
    fields = normalise_hf_config(data, where)
    fields["source"] = source
    if id is not None:
        fields["id"] = id
    elif "id" not in fields:
        fields["id"] = str(data.get("_name_or_path") or data.get("name") or "custom-model")
    return fields, where


# Hugging Face spellings that mean the same field, first match wins.
_HF_SYNONYMS: dict[str, tuple[str, ...]] = {
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "num_attention_heads": ("num_attention_heads", "n_head", "n_heads"),
    "num_key_value_heads": ("num_key_value_heads", "n_head_kv", "num_kv_heads"),
    "intermediate_size": ("intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size"),
    "vocab_size": ("vocab_size", "padded_vocab_size"),
    "max_position_embeddings": ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"),
}

# model_type -> gated MLP, per methodology.md.
GATED_MLP_BY_MODEL_TYPE: dict[str, bool] = {
    **dict.fromkeys(
        (
            "llama",
            "llama4",
            "llama4_text",
            "mistral",
            "mixtral",
            "qwen2",
            "qwen2_moe",
            "qwen3",
            "qwen3_moe",
            "gemma",
            "gemma2",
            "gemma3",
            "gemma3_text",
            "phi3",
            "phimoe",
            "olmo",
            "olmo2",
            "olmoe",
            "internlm2",
            "yi",
            "deepseek",
            "deepseek_v2",
            "deepseek_v3",
            "gpt_oss",
            "baichuan",
            "cohere",
            "granite",
            "stablelm",
        ),
        True,
    ),
    **dict.fromkeys(
        ("gpt2", "gpt3", "opt", "bloom", "falcon", "gpt_neox", "gptj", "gpt_bigcode", "mpt", "phi", "starcoder2"),
        False,
    ),
}

_PASS_THROUGH = (
    "id",
    "aliases",
    "model_type",
    "tie_word_embeddings",
    "gated_mlp",
    "source",
    "checked",
    "head_dim",
    "moe",
    "mla",
    "attention",
)
# Model types whose every layer is MoE when the config names no layout field.
_ALL_MOE_TYPES = ("mixtral", "gpt_oss", "phimoe", "olmoe")
_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")
_ATTENTION_KINDS = {"full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "chunked"}


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if data.get(key) is not None:
            return key, data[key]
    return None, None


def _int_field(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data[key]
    if type(value) is not int:
        raise CatalogError(f"{where}: {key}={value!r} must be a whole number")
    return value


def _moe_part(data: Mapping[str, Any], L: int, where: str) -> dict[str, Any] | None:
    """The ``moe`` part from the Hugging Face expert fields, or None for a dense model."""
    key, E = _first(data, _EXPERT_KEYS)
    if key is None:
        return None
    E = _int_field(data, key, where)
    if E <= 1:
        return None
    k_key, _ = _first(data, ("num_experts_per_tok", "experts_per_token", "moe_topk"))
    if k_key is None:
        raise CatalogError(f"{where}: {key}={E} names a mixture of experts but num_experts_per_tok is missing; add it")
    K = _int_field(data, k_key, where)
    model_type = str(data.get("model_type") or "").lower()
    llama4 = model_type.startswith("llama4")
    f_key = "moe_intermediate_size" if data.get("moe_intermediate_size") is not None else "intermediate_size"
    if data.get(f_key) is None:
        raise CatalogError(f"{where}: {key}={E} but moe_intermediate_size is missing; add the expert MLP size")
    fE = _int_field(data, f_key, where)
    # Shared experts: DeepSeek counts them, Qwen2-MoE gives their size, Llama 4 has one of intermediate_size.
    if data.get("n_shared_experts"):
        fS = _int_field(data, "n_shared_experts", where) * fE
    elif data.get("shared_expert_intermediate_size"):
        fS = _int_field(data, "shared_expert_intermediate_size", where)
    elif llama4:
        fS = fE
    else:
        fS = 0
    # Which layers are MoE.
    if data.get("moe_layers") is not None:
        layers = data["moe_layers"]
        if not isinstance(layers, list) or not all(type(i) is int and 0 <= i < L for i in layers):
            raise CatalogError(f"{where}: moe_layers must list layer numbers from 0 to {L - 1}")
        lm, layout = len(set(layers)), f"layers {sorted(set(layers))[:4]}... are MoE"
    elif llama4 or data.get("interleave_moe_layer_step") is not None:
        step = int(data.get("interleave_moe_layer_step") or 1)
        lm, layout = len(range(step - 1, L, step)), f"every {step}-th layer is MoE"
    elif "first_k_dense_replace" in data or "moe_layer_freq" in data:
        first = int(data.get("first_k_dense_replace") or 0)
        freq = int(data.get("moe_layer_freq") or 1)
        lm = sum(1 for i in range(L) if i >= first and i % freq == 0)
        layout = f"first {first} layers dense, then every {freq}-th layer MoE"
    elif "decoder_sparse_step" in data or "mlp_only_layers" in data:
        step = int(data.get("decoder_sparse_step") or 1)
        dense = set(data.get("mlp_only_layers") or [])
        lm = sum(1 for i in range(L) if i not in dense and (i + 1) % step == 0)
        layout = f"every {step}-th layer MoE" + (f", {len(dense)} dense-only" if dense else "")
    elif model_type in _ALL_MOE_TYPES:
        lm, layout = L, "every layer is MoE"
    else:
        raise CatalogError(
            f"{where}: model_type {data.get('model_type')!r} names {key}={E} but no layout of MoE layers "
            "(first_k_dense_replace, decoder_sparse_step, interleave_moe_layer_step or moe_layers); "
            'add a "moe" table with num_moe_layers'
        )
    if lm == 0:
        return None
    return {
        "num_experts": E,
        "experts_per_token": K,
        "expert_intermediate_size": fE,
        "shared_intermediate_size": fS,
        "num_moe_layers": lm,
        "layout": layout,
    }


def _mla_part(data: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    if data.get("kv_lora_rank") is None:
        return None
    out: dict[str, Any] = {"kv_lora_rank": data["kv_lora_rank"], "q_lora_rank": data.get("q_lora_rank")}
    for key in ("qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"):
        if data.get(key) is None:
            raise CatalogError(f"{where}: kv_lora_rank is set (latent attention) but {key} is missing; add it")
        out[key] = data[key]
    return out


def _window_part(data: Mapping[str, Any], L: int, where: str) -> dict[str, Any] | None:
    """The ``attention`` part: which layers look back through a window, and how far."""
    model_type = str(data.get("model_type") or "").lower()
    if data.get("attention_chunk_size") is not None:  # Llama 4: chunked attention in the RoPE layers
        nope = data.get("no_rope_layers")
        if nope is not None:
            if not isinstance(nope, list) or len(nope) != L:
                raise CatalogError(f"{where}: no_rope_layers must list one 0/1 flag per layer ({L})")
            lw = sum(1 for x in nope if x)
        else:
            interval = int(data.get("no_rope_layer_interval") or 4)
            lw = sum(1 for i in range(L) if (i + 1) % interval)
        if lw == 0:
            return None
        return {
            "sliding_window": data["attention_chunk_size"],
            "num_sliding_layers": lw,
            "kind": "chunked",
            "layout": "chunked attention in the RoPE layers",
        }
    layer_types = data.get("layer_types")
    if layer_types is not None:
        if not isinstance(layer_types, list) or len(layer_types) != L:
            raise CatalogError(f"{where}: layer_types must list one attention kind per layer ({L})")
        unknown = sorted({str(x) for x in layer_types if x not in _ATTENTION_KINDS})
        if unknown:
            raise CatalogError(
                f"{where}: layer_types has {unknown[0]!r}, an attention kind llmxl cannot model; "
                "it knows full_attention and sliding_attention"
            )
        lw = sum(1 for x in layer_types if x != "full_attention")
        if lw == 0:
            return None
        if data.get("sliding_window") is None:
            raise CatalogError(f"{where}: layer_types has sliding layers but sliding_window is missing; add it")
        return {"sliding_window": data["sliding_window"], "num_sliding_layers": lw, "layout": "from layer_types"}
    window = data.get("sliding_window")
    if window is None or data.get("use_sliding_window") is False:
        return None
    pattern = data.get("sliding_window_pattern")
    if pattern is None and model_type in ("gemma2", "gemma3", "gemma3_text"):
        pattern = 2 if model_type == "gemma2" else 6  # the transformers defaults
    if pattern is not None:
        if type(pattern) is not int or pattern < 1:
            raise CatalogError(f"{where}: sliding_window_pattern={pattern!r} must be a whole number ≥ 1")
        lw = L - L // pattern
        layout = f"every {pattern}-th layer global, the others sliding"
    else:
        if data.get("max_window_layers") is not None and data.get("max_window_layers") != L:
            raise CatalogError(
                f"{where}: max_window_layers={data['max_window_layers']} limits the window to some layers, "
                'which llmxl cannot model; add an "attention" table with num_sliding_layers'
            )
        lw, layout = L, "every layer"
    if lw == 0:
        return None
    return {"sliding_window": window, "num_sliding_layers": lw, "layout": layout}


#: Hugging Face config.json fields llmxl reads, beyond ModelSpec's own.
HF_FIELDS = frozenset(
    {spelling for spellings in _HF_SYNONYMS.values() for spelling in spellings}
    | set(_EXPERT_KEYS)
    | {
        "num_experts_per_tok", "experts_per_token", "moe_topk", "moe_intermediate_size", "n_shared_experts",
        "shared_expert_intermediate_size", "moe_layers", "interleave_moe_layer_step", "first_k_dense_replace",
        "moe_layer_freq", "decoder_sparse_step", "mlp_only_layers", "intermediate_size_mlp", "kv_lora_rank",
        "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "attention_chunk_size",
        "no_rope_layers", "no_rope_layer_interval", "layer_types", "sliding_window", "use_sliding_window",
        "sliding_window_pattern", "max_window_layers", "multi_query", "text_config",
    }
)  # fmt: skip


def normalise_hf_config(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Map a raw HF config onto ModelSpec fields, refusing what we cannot model."""
    text = data.get("text_config")
    if isinstance(text, Mapping):  # Llama 4, Gemma 3: the language model is nested
        outer = {k: data[k] for k in _PASS_THROUGH if k in data and k != "model_type"}
        data = {**dict(text), **outer}
        data.setdefault("model_type", text.get("model_type"))
    out: dict[str, Any] = {k: data[k] for k in _PASS_THROUGH if k in data}
    for name, spellings in _HF_SYNONYMS.items():
        for spelling in spellings:
            if data.get(spelling) is not None:
                out[name] = data[spelling]
                break
    missing = [
        n
        for n in ("num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size", "max_position_embeddings")
        if n not in out
    ]
    if missing:
        raise CatalogError(
            f"{where}: missing {', '.join(missing)}; add "
            f"{'it' if len(missing) == 1 else 'them'} with the Hugging Face config.json names"
        )
    if "num_key_value_heads" not in out:
        # HF semantics: absent means multi-head attention, multi_query means one KV head.
        out["num_key_value_heads"] = 1 if data.get("multi_query") else out["num_attention_heads"]
    L = out["num_hidden_layers"]
    if type(L) is not int or L < 1:
        raise CatalogError(f"{where}: num_hidden_layers={L!r} must be a whole number ≥ 1")
    if str(data.get("model_type") or "").lower().startswith("llama4") and data.get("intermediate_size_mlp"):
        out["intermediate_size"] = data["intermediate_size_mlp"]  # the dense layers; experts use intermediate_size
    if "intermediate_size" not in out:
        out["intermediate_size"] = 4 * out["hidden_size"]  # the GPT-2/Falcon default
    if "moe" not in out:
        moe = _moe_part(data, L, where)
        if moe is not None:
            out["moe"] = moe
    if "mla" not in out:
        mla = _mla_part(data, where)
        if mla is not None:
            out["mla"] = mla
    if "attention" not in out:
        window = _window_part(data, L, where)
        if window is not None:
            out["attention"] = window
    out.setdefault("model_type", str(data.get("model_type") or ""))
    if "gated_mlp" not in out:
        gated = GATED_MLP_BY_MODEL_TYPE.get(str(out["model_type"]).lower())
        if gated is None:
            raise CatalogError(
                f"{where}: cannot tell whether model_type {out['model_type']!r} has a gated MLP; "
                'add "gated_mlp": true (three MLP matrices) or false (two)'
            )
        out["gated_mlp"] = gated
    return out
