"""Frozen, validated descriptions of models, GPUs and data types.

The field names of :class:`ModelSpec` are those of a Hugging Face
``config.json``; :meth:`ModelSpec.from_hf_config` reads a real one. Units are
in the field names (``_gib``, ``_gbs`` = 1e9 bytes/s, ``_tflops``, ``_s``,
``_usd``) and repeated in each field's docstring.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import CatalogError, InvalidInputError

__all__ = ["DtypeSpec", "GpuSpec", "ModelSpec", "format_validation_error"]

_ID_MAX = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _check_text_id(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > _ID_MAX:
        raise ValueError(f"must be at most {_ID_MAX} characters")
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: str
    """Catalog id, matched case-insensitively; free text for user entries."""
    aliases: tuple[str, ...] = ()
    """Other names that find this entry (e.g. the Hugging Face repo id)."""

    @field_validator("id")
    @classmethod
    def _id_is_clean(cls, value: str) -> str:
        return _check_text_id(value)

    @field_validator("aliases")
    @classmethod
    def _aliases_are_clean(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_text_id(v) for v in value)


class ModelSpec(_Spec):
    """A dense decoder-only transformer, in Hugging Face ``config.json`` terms."""

    model_type: str
    """Hugging Face architecture family (llama, mistral, qwen2, opt ...)."""
    num_hidden_layers: PositiveInt
    """Transformer layers L."""
    hidden_size: PositiveInt
    """Hidden size h."""
    num_attention_heads: PositiveInt
    """Attention (query) heads a."""
    num_key_value_heads: PositiveInt
    """Key/value heads k (k = a for multi-head attention)."""
    intermediate_size: PositiveInt
    """MLP inner size f."""
    vocab_size: PositiveInt
    """Vocabulary size V."""
    max_position_embeddings: PositiveInt
    """Context length [tokens]."""
    tie_word_embeddings: bool = False
    """Whether the output head shares the input embedding (informational)."""
    gated_mlp: bool
    """True when the MLP has three matrices (SwiGLU/GeGLU), false for two."""
    source: str
    """Where the figures were read."""
    checked: _dt.date | None = None
    """Date the figures were checked against the source."""

    @model_validator(mode="after")
    def _shapes_agree(self) -> ModelSpec:
        h, a, k = self.hidden_size, self.num_attention_heads, self.num_key_value_heads
        if h % a:
            raise ValueError(f"hidden_size {h} is not a multiple of num_attention_heads {a}")
        if a % k:
            raise ValueError(f"num_attention_heads {a} is not a multiple of num_key_value_heads {k}")
        return self

    @property
    def head_dim(self) -> int:
        """Size of one attention head d = h / a."""
        return self.hidden_size // self.num_attention_heads

    @property
    def kv_groups(self) -> int:
        """Query heads per key/value head g = a / k."""
        return self.num_attention_heads // self.num_key_value_heads

    @property
    def num_parameters(self) -> int:
        """Parameters as the methodology counts them (one embedding table)."""
        h, f = self.hidden_size, self.intermediate_size
        attn = 2 * h * h + 2 * h * (h * self.num_key_value_heads // self.num_attention_heads)
        mlp = (3 if self.gated_mlp else 2) * h * f
        return self.num_hidden_layers * (attn + mlp + 2 * h) + self.vocab_size * h + h

    @classmethod
    def from_hf_config(
        cls,
        config: Mapping[str, Any] | str | os.PathLike[str],
        *,
        id: str | None = None,
        source: str | None = None,
    ) -> ModelSpec:
        """Build a spec from a Hugging Face ``config.json`` (a path or its dict).

        Accepts the names real configs use: ``ffn_dim`` (OPT), ``n_layer``,
        ``n_embd``, ``n_head``, ``n_inner``, ``n_positions`` (GPT-2 style),
        ``n_head_kv``/``num_kv_heads``/``multi_query`` (Falcon).
        ``gated_mlp`` is inferred from ``model_type`` when absent.

        Examples
        --------
        >>> spec = ModelSpec.from_hf_config({"model_type": "llama",
        ...     "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
        ...     "intermediate_size": 128, "vocab_size": 100,
        ...     "max_position_embeddings": 512}, id="tiny")
        >>> spec.num_key_value_heads, spec.gated_mlp
        (4, True)
        """
        if isinstance(config, (str, os.PathLike)):
            path = os.fspath(config)
            try:
                with open(path, encoding="utf-8") as fh:
                    data = json.load(fh)
            except OSError as exc:
                raise CatalogError(
                    f"cannot read model config {path!r}: {exc.strerror or exc}; "
                    "give the path of a Hugging Face config.json"
                ) from None
            except ValueError as exc:
                raise CatalogError(
                    f"model config {path!r} is not valid JSON ({exc}); give the path of a Hugging Face config.json"
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
        fields = _normalise_hf_config(data, where)
        fields["source"] = source
        if id is not None:
            fields["id"] = id
        elif "id" not in fields:
            fields["id"] = str(data.get("_name_or_path") or data.get("name") or "custom-model")
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise CatalogError(f"{where}: {format_validation_error(exc, 'model', fields.get('id'))}") from None


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
            "mistral",
            "mixtral",
            "qwen2",
            "qwen3",
            "gemma",
            "phi3",
            "olmo",
            "olmo2",
            "internlm2",
            "yi",
            "deepseek",
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

_PASS_THROUGH = ("id", "aliases", "model_type", "tie_word_embeddings", "gated_mlp", "source", "checked")


def _normalise_hf_config(data: dict[str, Any], where: str) -> dict[str, Any]:
    """Map a raw HF config onto ModelSpec fields, refusing what we cannot model."""
    for key in ("num_local_experts", "num_experts", "n_routed_experts"):
        if (data.get(key) or 0) > 1:
            raise CatalogError(
                f"{where}: {key}={data[key]}: mixture-of-experts models are not supported yet; use a dense model"
            )
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
    if "intermediate_size" not in out:
        out["intermediate_size"] = 4 * out["hidden_size"]  # the GPT-2/Falcon default
    head_dim = data.get("head_dim")
    h, a = out["hidden_size"], out["num_attention_heads"]
    if head_dim is not None and isinstance(h, int) and isinstance(a, int) and a > 0 and head_dim != h // a:
        raise CatalogError(
            f"{where}: head_dim={head_dim} differs from hidden_size/num_attention_heads={h // a}; "
            "such models are not supported yet"
        )
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


ComputeKind = Literal["fp16", "fp8", "int8", "int4"]


class GpuSpec(_Spec):
    """One accelerator: memory, bandwidth, dense peak throughput, interconnect, price."""

    id: str = "custom-gpu"
    memory_gib: PositiveFloat
    """Memory per GPU [GiB] (the marketed figure, read as GiB)."""
    hbm_bandwidth_gbs: PositiveFloat
    """Memory bandwidth [GB/s, 1e9 bytes/s]."""
    fp16_tflops: PositiveFloat
    """Dense fp16/bf16 tensor throughput [TFLOPS]."""
    fp8_tflops: PositiveFloat | None = None
    """Dense fp8 tensor throughput [TFLOPS]; absent without fp8 tensor cores."""
    int8_tops: PositiveFloat
    """Dense int8 tensor throughput [TOPS]."""
    int4_tops: PositiveFloat | None = None
    """Dense int4 tensor throughput [TOPS]; absent without int4 tensor cores."""
    interconnect_gbs: PositiveFloat
    """Intra-node interconnect bandwidth per GPU, one direction [GB/s]."""
    interconnect_latency_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 8e-6
    """Minimum latency of one collective message [s] (8e-6, the reference's convention)."""
    usd_per_hour: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    """Reference on-demand price of one GPU for one hour [USD]."""
    usd_per_hour_source: str | None = None
    """Who quoted usd_per_hour."""
    usd_per_hour_checked: _dt.date | None = None
    """When usd_per_hour was read."""
    source: str = "user-supplied"
    """Where the figures were read."""
    checked: _dt.date | None = None
    """Date the figures were checked against the source."""

    def peak_tflops(self, compute: ComputeKind) -> float | None:
        """Dense peak [TFLOPS or TOPS] for a compute kind, None when the chip lacks it."""
        return {
            "fp16": self.fp16_tflops,
            "fp8": self.fp8_tflops,
            "int8": self.int8_tops,
            "int4": self.int4_tops,
        }[compute]


_DTYPE_RE = re.compile(r"^w(4|8|16)a(4|8|16)e(4|8|16|32)(-fp8)?$")


class DtypeSpec(_Spec):
    """A precision recipe ``wXaYeZ``: weight, activation and embedding bits."""

    weight_bits: Literal[4, 8, 16]
    """Bits per weight X."""
    activation_bits: Literal[4, 8, 16]
    """Bits per activation (and KV-cache element) Y."""
    embedding_bits: Literal[4, 8, 16, 32]
    """Bits per embedding-table element Z."""
    compute: ComputeKind | None = None
    """Tensor-core kind; derived from max(X, Y) when absent (16 fp16, 8 int8, 4 int4)."""
    description: str = ""
    """What this recipe is, in words."""

    @model_validator(mode="after")
    def _compute_matches_bits(self) -> DtypeSpec:
        if self.compute == "fp8" and max(self.weight_bits, self.activation_bits) != 8:
            raise ValueError("compute 'fp8' needs 8-bit weights or activations at most")
        return self

    @property
    def compute_kind(self) -> ComputeKind:
        """The tensor-core kind this recipe runs on."""
        if self.compute is not None:
            return self.compute
        return {16: "fp16", 8: "int8", 4: "int4"}[max(self.weight_bits, self.activation_bits)]  # type: ignore[return-value]

    @classmethod
    def parse(cls, name: str) -> DtypeSpec | None:
        """A spec for any well-formed ``wXaYeZ[-fp8]`` name, else None."""
        m = _DTYPE_RE.match(name.strip().lower())
        if not m:
            return None
        return cls(
            id=m.group(0),
            weight_bits=int(m.group(1)),  # type: ignore[arg-type]
            activation_bits=int(m.group(2)),  # type: ignore[arg-type]
            embedding_bits=int(m.group(3)),  # type: ignore[arg-type]
            compute="fp8" if m.group(4) else None,
        )


def format_validation_error(exc: ValidationError, kind: str, entry_id: object = None) -> str:
    """One line from a pydantic error: entry, field, problem and the value given."""
    err = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in err["loc"]) or "entry"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if err["type"] == "missing":
        return f"{kind} {entry_id!r}: field '{loc}' is missing; add it"
    if err["type"] == "extra_forbidden":
        return f"{kind} {entry_id!r}: unknown field '{loc}'; remove it or check its spelling"
    value = err.get("input")
    shown = "" if isinstance(value, dict) or value is None else f" (got {value!r})"
    name = f"{kind} {entry_id!r}" if entry_id is not None else kind
    if loc == "entry":
        return f"{name}: {msg}"
    return f"{name}: field '{loc}': {msg}{shown}"
