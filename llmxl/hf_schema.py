"""What llmxl reads of a Hugging Face ``config.json``: every field typed and ranged, and each model family.

One table, :data:`FIELDS`, says for every field the parser reads what it must be (a whole number in a
range, a flag, a list of layer numbers or of one entry per layer) and how to fix it; :func:`read` is the
only way the parser takes a value from a config, so a wrong type or range is refused with the field, the
value and the fix, never met later as a ZeroDivisionError or a silently dense model.

:data:`FAMILIES` is the schema per ``model_type``: whether the MLP is gated, whether every layer is a
mixture of experts when the config names no layout, and the default window pattern. :data:`CANNOT_REPRESENT`
names the fields of architectures the `serving` method cannot represent (docs/methodology.md: sparse,
linear and hybrid attention, state-space layers, per-layer shapes), and :data:`REFUSED_TYPES` the model
types that are such architectures whatever fields they spell: a config with either is refused, naming
the field, rather than estimated wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .checks import format_value
from .errors import CatalogError

__all__ = ["CANNOT_REPRESENT", "FAMILIES", "FIELDS", "REFUSED_TYPES", "Family", "first_of", "read"]

_TOP = 10**9  # the largest size or count of any field (as ModelSpec's)


class Field(NamedTuple):
    """What one config field must be. ``kind``: count, flag, text, table, layers (layer numbers),
    flags (one 0/1 per layer), kinds (one text per layer), count_or_flags (a number or one 0/1 per layer)."""

    kind: str
    lo: int = 1
    fix: str = ""


_COUNT = Field("count")
_COUNT0 = Field("count", 0)
_FLAG = Field("flag")

#: Every field the parser reads, with what it must be.
FIELDS: dict[str, Field] = {
    **dict.fromkeys(("num_hidden_layers", "n_layer", "num_layers", "n_layers"), _COUNT),
    **dict.fromkeys(("hidden_size", "n_embd", "d_model"), _COUNT),
    **dict.fromkeys(("num_attention_heads", "n_head", "n_heads"), _COUNT),
    **dict.fromkeys(("num_key_value_heads", "n_head_kv", "num_kv_heads"), _COUNT),
    **dict.fromkeys(("intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size", "intermediate_size_mlp"), _COUNT),
    **dict.fromkeys(("vocab_size", "padded_vocab_size"), _COUNT),
    **dict.fromkeys(("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"), _COUNT),
    "head_dim": _COUNT,
    "model_type": Field("text"),
    "text_config": Field("table"),
    "multi_query": _FLAG,
    "tie_word_embeddings": _FLAG,
    "gated_mlp": _FLAG,
    # mixture of experts
    **dict.fromkeys(("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"), _COUNT0),
    **dict.fromkeys(("num_experts_per_tok", "experts_per_token", "moe_topk", "moe_k"), _COUNT),
    "moe_intermediate_size": _COUNT,
    **dict.fromkeys(("n_shared_experts", "num_shared_experts", "moe_num_shared_experts"), _COUNT0),
    **dict.fromkeys(
        (
            "shared_expert_intermediate_size",
            "shared_intermediate_size",
            "share_expert_dim",
            "moe_shared_expert_intermediate_size",
        ),
        _COUNT0,
    ),
    "moe_layers": Field("layers", fix="list the layer numbers whose MLP is MoE"),
    "interleave_moe_layer_step": Field("count", fix="give 1 for every layer MoE, 2 for every second"),
    "first_k_dense_replace": Field("count", 0, fix="give how many dense layers come first"),
    "moe_layer_freq": Field("count_or_flags", fix="give 1 for every layer after the dense ones, 2 for every second"),
    "decoder_sparse_step": Field("count", fix="give 1 for every layer MoE, 2 for every second"),
    "mlp_only_layers": Field("layers", fix="list the layer numbers whose MLP is dense"),
    "moe_layer_start_index": Field("count", 0, fix="give the first MoE layer's number"),
    "moe_layer_end_index": Field("count", -1, fix="give the last MoE layer's number, or -1 for the last layer"),
    "moe_layer_interval": Field("count", fix="give 1 for every layer MoE, 2 for every second"),
    # latent attention
    **dict.fromkeys(("kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"), _COUNT),
    # windows
    "attention_chunk_size": _COUNT,
    "no_rope_layers": Field("flags", fix="give one 0 or 1 per layer"),
    "no_rope_layer_interval": Field("count", fix="give 4 for one global layer in four"),
    "layer_types": Field("kinds", fix="give one attention kind per layer, e.g. full_attention"),
    "sliding_window": _COUNT,
    "use_sliding_window": _FLAG,
    "sliding_window_pattern": Field("count", fix="give 6 for one global layer in six"),
    "max_window_layers": Field("count", 0),
    "attn_type_list": Field("flags", fix="give one 0 (linear) or 1 (full attention) per layer"),
}


def first_of(data: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    """(the first of ``keys`` that ``data`` sets to something other than None, its raw value)."""
    for key in keys:
        if data.get(key) is not None:
            return key, data[key]
    return None, None


def read(data: Mapping[str, Any], key: str, where: str, layers: int | None = None) -> Any:
    """``data[key]`` checked against :data:`FIELDS`, or None when absent or null.

    ``layers`` is L, for the fields that number layers or give one entry per layer.
    """
    value = data.get(key)
    if value is None:
        return None
    spec = FIELDS[key]
    kind = spec.kind
    fix = f"; {spec.fix}" if spec.fix else ""
    if kind == "count" or (kind == "count_or_flags" and not isinstance(value, list)):
        top = _TOP if layers is None or key not in ("first_k_dense_replace", "max_window_layers") else layers
        if key in ("moe_layer_start_index", "moe_layer_end_index") and layers is not None:
            top = layers - 1
        if type(value) is not int or not spec.lo <= value <= top:
            raise CatalogError(
                f"{where}: {key}={format_value(value)} must be a whole number from {spec.lo} to {top:,}{fix}"
            )
        return value
    if kind == "flag":
        if type(value) is not bool:
            raise CatalogError(f"{where}: {key}={format_value(value)} must be true or false")
        return value
    if kind == "text":
        if not isinstance(value, str):
            raise CatalogError(f'{where}: {key}={format_value(value)} must be text, e.g. "llama"')
        return value
    if kind == "table":
        if not isinstance(value, Mapping):
            raise CatalogError(f"{where}: {key} must be a table of fields (a JSON object)")
        return value
    if not isinstance(value, list):
        raise CatalogError(f"{where}: {key}={format_value(value)} must be a list{fix}")
    if kind == "layers":
        top = _TOP if layers is None else layers - 1
        bad = next((v for v in value if type(v) is not int or not 0 <= v <= top), _NONE)
        if bad is not _NONE:
            raise CatalogError(
                f"{where}: {key} has {format_value(bad)}, which is not a layer number from 0 to {top:,}{fix}"
            )
        return value
    if layers is not None and len(value) != layers:
        raise CatalogError(f"{where}: {key} has {len(value):,} entries for {layers:,} layers{fix}")
    if kind in ("flags", "count_or_flags"):
        bad = next((v for v in value if v not in (0, 1) or type(v) not in (int, bool)), _NONE)
        if bad is not _NONE:
            raise CatalogError(f"{where}: {key} has {format_value(bad)}, which is not 0 or 1{fix}")
        return value
    bad = next((v for v in value if not isinstance(v, str)), _NONE)  # kinds
    if bad is not _NONE:
        raise CatalogError(f"{where}: {key} has {format_value(bad)}, which is not an attention kind (text){fix}")
    return value


_NONE = object()


class Family(NamedTuple):
    """The schema of one ``model_type``: gated MLP, every layer MoE without a layout, window pattern."""

    gated_mlp: bool
    all_moe: bool = False
    window_pattern: int | None = None


_G = Family(True)
_MOE = Family(True, all_moe=True)

#: model_type -> its family. Gated: SwiGLU/GeGLU, three MLP matrices (methodology.md).
FAMILIES: dict[str, Family] = {
    **dict.fromkeys(
        (
            "llama", "llama4", "llama4_text", "mistral", "ministral3", "qwen2", "qwen3", "qwen3_vl_text",
            "gemma", "phi3", "olmo", "olmo2", "olmo3", "internlm2", "yi", "baichuan", "cohere", "granite",
            "stablelm", "exaone4", "mimo", "qwen2_moe", "qwen3_moe", "qwen3_vl_moe_text", "deepseek",
            "deepseek_v2", "deepseek_v3", "kimi_k2", "glm4_moe", "bailing_moe", "ernie4_5_moe",
        ),
        _G,
    ),
    "gemma2": Family(True, window_pattern=2),  # the transformers defaults
    "gemma3": Family(True, window_pattern=6),
    "gemma3_text": Family(True, window_pattern=6),
    **dict.fromkeys(
        ("mixtral", "gpt_oss", "phimoe", "olmoe", "granitemoe", "granitemoeshared", "minimax_m2", "minicpm"), _MOE
    ),
    **dict.fromkeys(
        ("gpt2", "gpt3", "opt", "bloom", "falcon", "gpt_neox", "gptj", "gpt_bigcode", "mpt", "phi", "starcoder2"),
        Family(False),
    ),
}  # fmt: skip

#: Fields whose (truthy) presence means something the `serving` method cannot represent.
CANNOT_REPRESENT: dict[str, str] = {
    **dict.fromkeys(
        ("index_topk", "index_n_heads", "index_head_dim"),
        "DeepSeek sparse attention (an indexer picks the tokens each query attends to)",
    ),
    **dict.fromkeys(
        ("full_attention_interval", "linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim"),
        "hybrid linear attention (Gated DeltaNet layers with a recurrent state instead of a KV cache)",
    ),
    "linear_attn_config": "linear attention layers (Kimi Delta Attention)",
    "hybrid_override_pattern": "a hybrid of Mamba-2, attention and MLP layers",
    **dict.fromkeys(
        ("mamba_num_heads", "mamba_n_heads", "mamba_d_state", "ssm_state_size", "mamba_d_ssm"),
        "Mamba state-space layers (a fixed state instead of a KV cache)",
    ),
    "hybrid_layer_pattern": "layers of two attention kinds with their own shapes",
    "swa_num_attention_heads": "sliding-window layers with their own head counts",
    "block_configs": "per-layer shapes (layers without attention, each with its own MLP size)",
    "sparse_attention_config": "sparse attention",
    "global_head_dim": "global layers with their own head size",
    "attention_k_eq_v": "layers whose keys and values share one projection",
    "num_kv_shared_layers": "layers that reuse another layer's KV cache",
    "hidden_size_per_layer_input": "per-layer embeddings",
    "enable_moe_block": "an expert block beside a dense MLP",
    "dense_attention_every_n_layers": "block-sparse attention",
    "compress_ratios": "a compressed KV cache per layer",
    "hc_mult": "hyper-connections (several residual streams)",
    "o_lora_rank": "a low-rank grouped output projection",
}

#: model_types that are architectures the `serving` method cannot represent, whatever fields they give.
REFUSED_TYPES: dict[str, str] = {
    "deepseek_v32": "DeepSeek sparse attention",
    "deepseek_v4": "DeepSeek sparse attention with compressed KV and hyper-connections",
    "glm_moe_dsa": "DeepSeek sparse attention",
    **dict.fromkeys(
        ("qwen3_next", "qwen3_5", "qwen3_5_moe", "qwen3_5_text", "qwen3_5_moe_text"),
        "hybrid linear attention (Gated DeltaNet)",
    ),
    "kimi_linear": "linear attention (Kimi Delta Attention)",
    "minimax": "hybrid linear (lightning) attention",
    "minimax_m3": "MiniMax sparse attention",
    **dict.fromkeys(
        ("nemotron_h", "granitemoehybrid", "jamba", "bamba", "zamba", "zamba2", "falcon_h1", "mamba", "mamba2",
         "falcon_mamba", "plamo2", "lfm2"),
        "state-space (Mamba) layers",
    ),
    **dict.fromkeys(("rwkv", "rwkv7", "recurrent_gemma"), "recurrent layers instead of attention"),
    "nemotron-nas": "per-layer shapes (block_configs)",
    "mimo_v2_flash": "layers of two attention kinds with their own shapes",
    **dict.fromkeys(("gemma4", "gemma4_text"), "global layers with their own head size and shared KV"),
    "phi3small": "block-sparse attention",
}  # fmt: skip
