"""Reading a Hugging Face ``config.json`` into the fields of a :class:`~llmxl.specs.ModelSpec`.

Real configs spell the same figure several ways (``n_layer``, ``num_layers`` ...), nest the language
model of multimodal checkpoints under ``text_config``, and describe mixture-of-experts layouts,
latent attention and attention windows each in their family's own fields. This module maps them onto
llmxl's fields and refuses, naming the field, what it cannot model. Every value it reads is typed and
ranged by :mod:`llmxl.hf_schema`; layouts are counted in closed form (a config of 10⁹ layers answers
at once). Plain dicts in, plain dicts out: the spec classes validate the result.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from .errors import CatalogError, InvalidInputError
from .hf_schema import CANNOT_REPRESENT, FAMILIES, FIELDS, REFUSED_TYPES, first_of, read
from .text import UNSAFE, has_unsafe
from .textfile import read_small_file

__all__ = ["GATED_MLP_BY_MODEL_TYPE", "HF_FIELDS", "config_id", "model_fields", "normalise_hf_config", "path_id"]

#: model_type -> gated MLP, per methodology.md (the families of :mod:`llmxl.hf_schema`).
GATED_MLP_BY_MODEL_TYPE: dict[str, bool] = {t: f.gated_mlp for t, f in FAMILIES.items()}
_ID_MAX = 120  # as ModelSpec's ids


def model_fields(
    config: Mapping[str, Any] | str | os.PathLike[str], *, id: str | None = None, source: str | None = None
) -> tuple[dict[str, Any], str]:
    """(ModelSpec fields, where they came from) for a config.json path or its dict."""
    path = None
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        text = read_small_file(path, "model config", "give the path of a Hugging Face config.json")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # ValueError: bad JSON, or an integer of thousands of digits
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
            raise CatalogError(
                f"model config {path!r} is not valid JSON ({why}); give the path of a Hugging Face config.json"
            ) from None
        if not isinstance(data, dict):
            raise CatalogError(f"model config {path!r} must hold a JSON object")
        where = path
        source = source or UNSAFE.sub("\ufffd", path)  # a path from a non-UTF-8 file name is still writable
    elif isinstance(config, Mapping):
        data = dict(config)
        where = "model config"
        given = data.get("source")
        source = source or (given if isinstance(given, str) and given else "user-supplied config")
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
        fields["id"] = config_id(data, path)
    return fields, where


def usable_id(name: Any) -> bool:
    """Whether ``name`` can be a model's id as it is (text, not blank, short, no control characters)."""
    return isinstance(name, str) and bool(name.strip()) and len(name.strip()) <= _ID_MAX and not has_unsafe(name)


def config_id(data: Mapping[str, Any], path: str | None) -> str:
    """A config's model id: its ``_name_or_path`` (or ``name``) when usable, else from the file's path."""
    for key in ("_name_or_path", "name"):
        if usable_id(data.get(key)):
            return str(data[key]).strip()
    return "custom-model" if path is None else path_id(path)


def path_id(path: str | os.PathLike[str]) -> str:
    """An id from a config's path: the path as given when it reads cleanly, else its last parts."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    text = UNSAFE.sub("\ufffd", text).replace("\t", " ").replace("\n", " ").strip()
    if len(text) > _ID_MAX:
        text = "…" + text[-(_ID_MAX - 1) :]
    return text or "custom-model"


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
_EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
_TOP_K_KEYS = ("num_experts_per_tok", "experts_per_token", "moe_topk", "moe_k")
_SHARED_COUNT_KEYS = ("n_shared_experts", "num_shared_experts", "moe_num_shared_experts")
_SHARED_SIZE_KEYS = ("shared_expert_intermediate_size", "shared_intermediate_size", "share_expert_dim")
_ATTENTION_KINDS = {"full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "chunked"}


def _model_type(data: Mapping[str, Any]) -> str:
    return str(data.get("model_type") or "").lower()


def _refuse_unrepresentable(data: Mapping[str, Any], where: str) -> None:
    """Refuse, naming the model type or the field, an architecture the serving method cannot represent."""
    model_type = _model_type(data)
    if model_type in REFUSED_TYPES:
        raise CatalogError(
            f"{where}: model_type {data.get('model_type')!r} has {REFUSED_TYPES[model_type]}, which the serving "
            "method cannot represent (docs/methodology.md); llmxl refuses it rather than estimate it wrong"
        )
    for key, what in CANNOT_REPRESENT.items():
        if data.get(key):
            raise CatalogError(
                f"{where}: {key} is set: the model has {what}, which the serving method cannot represent "
                "(docs/methodology.md); llmxl refuses it rather than estimate it wrong"
            )
    kinds = read(data, "attn_type_list", where)
    if kinds is not None and not all(kinds):
        raise CatalogError(
            f"{where}: attn_type_list has 0 at layer {kinds.index(0)}: a layer of linear (lightning) attention, "
            "which the serving method cannot represent; llmxl refuses it rather than estimate it wrong"
        )


def _every(step: int) -> str:
    return "every layer" if step == 1 else f"every {step}-th layer"


def _count_from(first: int, last: int, step: int) -> int:
    """How many i in [first, last] are multiples of step (0 when first > last)."""
    if first > last:
        return 0
    return last // step - (first - 1) // step if first > 0 else last // step + 1


def _moe_layers(data: Mapping[str, Any], L: int, where: str, all_moe: bool, key: str, E: int) -> tuple[int, str]:
    """(LM, the layout in words): how many layers are MoE, in closed form, from the family's layout fields."""
    model_type = _model_type(data)
    moe_layers = read(data, "moe_layers", where, L)
    if moe_layers is not None:
        chosen = sorted(set(moe_layers))
        return len(chosen), f"layers {chosen[:4]}{'...' if len(chosen) > 4 else ''} are MoE"
    step = read(data, "interleave_moe_layer_step", where)
    if step is not None or model_type.startswith("llama4"):
        step = step or 1
        return len(range(step - 1, L, step)), f"{_every(step)} is MoE"
    if "first_k_dense_replace" in data or "moe_layer_freq" in data:
        first = read(data, "first_k_dense_replace", where, L) or 0
        freq = read(data, "moe_layer_freq", where, L)
        if isinstance(freq, list):  # one 0/1 per layer
            return sum(1 for flag in freq[first:] if flag), f"first {first} layers dense, then moe_layer_freq's"
        freq = freq or 1
        return _count_from(first, L - 1, freq), f"first {first} layers dense, then {_every(freq)} MoE"
    if "decoder_sparse_step" in data or "mlp_only_layers" in data:
        step = read(data, "decoder_sparse_step", where) or 1
        dense = set(read(data, "mlp_only_layers", where, L) or ())
        lm = L // step - sum(1 for i in dense if (i + 1) % step == 0)
        return lm, f"{_every(step)} MoE" + (f", {len(dense)} dense-only" if dense else "")
    if "moe_layer_start_index" in data or "moe_layer_interval" in data:  # ERNIE 4.5
        start = read(data, "moe_layer_start_index", where, L) or 0
        end = read(data, "moe_layer_end_index", where, L)
        end = L - 1 if end is None or end < 0 else end
        interval = read(data, "moe_layer_interval", where) or 1
        # (i + 1) % interval == 0 for start <= i <= end: multiples of interval in [start + 1, end + 1]
        lm = _count_from(start + 1, end + 1, interval)
        return lm, f"from layer {start} to {end}, {_every(interval)} MoE"
    if all_moe:
        return L, "every layer is MoE"
    raise CatalogError(
        f"{where}: model_type {data.get('model_type')!r} names {key}={E} but no layout of MoE layers "
        "(first_k_dense_replace, decoder_sparse_step, interleave_moe_layer_step or moe_layers); "
        'add a "moe" table with num_moe_layers'
    )


def _shared_size(data: Mapping[str, Any], fE: int, where: str) -> int:
    """fS, the shared experts' MLP size: from a count of them, or their size, or both when they agree."""
    count_key, _ = first_of(data, _SHARED_COUNT_KEYS)
    size_key, _ = first_of(data, _SHARED_SIZE_KEYS)
    by_count = by_size = None
    if count_key is not None:
        count = read(data, count_key, where)
        each = read(data, "moe_shared_expert_intermediate_size", where) or fE  # Ling: their own size
        by_count = count * each
    if size_key is not None:
        by_size = read(data, size_key, where)
    if by_count is not None and by_size is not None and by_count != by_size and by_count and by_size:
        raise CatalogError(
            f"{where}: {count_key} gives shared experts of {by_count} in all but {size_key}={by_size}; "
            "keep the one the model's card confirms"
        )
    if by_count:
        return by_count
    if by_size is not None:
        return by_size
    if _model_type(data).startswith("llama4"):
        return fE  # one shared expert of intermediate_size
    return 0


def _moe_part(data: Mapping[str, Any], L: int, where: str) -> dict[str, Any] | None:
    """The ``moe`` part from the Hugging Face expert fields, or None for a dense model."""
    key, _ = first_of(data, _EXPERT_KEYS)
    if key is None:
        return None
    E = read(data, key, where)
    if E <= 1:
        return None
    k_key, _ = first_of(data, _TOP_K_KEYS)
    if k_key is None:
        raise CatalogError(f"{where}: {key}={E} names a mixture of experts but num_experts_per_tok is missing; add it")
    K = read(data, k_key, where)
    f_key = "moe_intermediate_size" if data.get("moe_intermediate_size") is not None else "intermediate_size"
    if data.get(f_key) is None:
        raise CatalogError(f"{where}: {key}={E} but moe_intermediate_size is missing; add the expert MLP size")
    fE = read(data, f_key, where)
    fS = _shared_size(data, fE, where)
    family = FAMILIES.get(_model_type(data))
    lm, layout = _moe_layers(data, L, where, bool(family and family.all_moe), key, E)
    if lm <= 0:
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
    rank = read(data, "kv_lora_rank", where)
    if rank is None:
        return None
    out: dict[str, Any] = {"kv_lora_rank": rank, "q_lora_rank": read(data, "q_lora_rank", where)}
    for key in ("qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"):
        value = read(data, key, where)
        if value is None:
            raise CatalogError(f"{where}: kv_lora_rank is set (latent attention) but {key} is missing; add it")
        out[key] = value
    return out


def _window_part(data: Mapping[str, Any], L: int, where: str) -> dict[str, Any] | None:
    """The ``attention`` part: which layers look back through a window, and how far."""
    chunk = read(data, "attention_chunk_size", where)
    if chunk is not None:  # Llama 4: chunked attention in the RoPE layers
        nope = read(data, "no_rope_layers", where, L)
        if nope is not None:
            lw = sum(1 for x in nope if x)
        else:
            interval = read(data, "no_rope_layer_interval", where) or 4
            lw = L - L // interval  # (i + 1) % interval != 0
        if lw == 0:
            return None
        return {"sliding_window": chunk, "num_sliding_layers": lw, "kind": "chunked",
                "layout": "chunked attention in the RoPE layers"}  # fmt: skip
    layer_types = read(data, "layer_types", where, L)
    if layer_types is not None:
        counts = Counter(layer_types)
        unknown = sorted(k for k in counts if k not in _ATTENTION_KINDS)
        if unknown:
            raise CatalogError(
                f"{where}: layer_types has {unknown[0][:60]!r}, an attention kind llmxl cannot model; "
                "it knows full_attention and sliding_attention"
            )
        lw = L - counts.get("full_attention", 0)
        if lw == 0:
            return None
        window = read(data, "sliding_window", where)
        if window is None:
            raise CatalogError(f"{where}: layer_types has sliding layers but sliding_window is missing; add it")
        return {"sliding_window": window, "num_sliding_layers": lw, "layout": "from layer_types"}
    window = read(data, "sliding_window", where)
    if window is None or read(data, "use_sliding_window", where) is False:
        return None
    pattern = read(data, "sliding_window_pattern", where)
    family = FAMILIES.get(_model_type(data))
    if pattern is None and family is not None:
        pattern = family.window_pattern
    if pattern is not None:
        lw = L - L // pattern
        layout = f"every {pattern}-th layer global, the others sliding"
    else:
        limit = read(data, "max_window_layers", where, L)
        if limit is not None and limit != L:
            raise CatalogError(
                f"{where}: max_window_layers={limit} limits the window to some layers, "
                'which llmxl cannot model; add an "attention" table with num_sliding_layers'
            )
        lw, layout = L, "every layer"
    if lw == 0:
        return None
    return {"sliding_window": window, "num_sliding_layers": lw, "layout": layout}


#: Hugging Face config.json fields llmxl reads, beyond ModelSpec's own (:data:`llmxl.hf_schema.FIELDS`).
HF_FIELDS = frozenset(FIELDS)


def normalise_hf_config(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Map a raw HF config onto ModelSpec fields, refusing what we cannot model."""
    text = read(data, "text_config", where)
    if text is not None:  # Llama 4, Gemma 3: the language model is nested
        outer = {k: data[k] for k in _PASS_THROUGH if k in data and k != "model_type"}
        data = {**dict(text), **outer}
        data.setdefault("model_type", text.get("model_type"))
    read(data, "model_type", where)
    _refuse_unrepresentable(data, where)
    out: dict[str, Any] = {k: data[k] for k in _PASS_THROUGH if k in data}
    for key in ("gated_mlp", "tie_word_embeddings", "head_dim"):
        if key in out and not (key == "head_dim" and out[key] is None):
            read(data, key, where)
    for name, spellings in _HF_SYNONYMS.items():
        key, _ = first_of(data, spellings)
        if key is not None:
            out[name] = read(data, key, where)
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
        out["num_key_value_heads"] = 1 if read(data, "multi_query", where) else out["num_attention_heads"]
    L = out["num_hidden_layers"]
    model_type = _model_type(data)
    if model_type.startswith("llama4"):
        dense = read(data, "intermediate_size_mlp", where)
        if dense:
            out["intermediate_size"] = dense  # the dense layers; experts use intermediate_size
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
                f"{where}: cannot tell whether model_type {str(out['model_type'])[:60]!r} has a gated MLP; "
                'add "gated_mlp": true (three MLP matrices) or false (two)'
            )
        out["gated_mlp"] = gated
    return out
