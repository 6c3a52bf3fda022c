"""Frozen, validated descriptions of models, GPUs and data types.

The field names of :class:`ModelSpec` are those of a Hugging Face
``config.json``; :meth:`ModelSpec.from_hf_config` reads a real one. Units are
in the field names (``_gib``, ``_gbs`` = 1e9 bytes/s, ``_tflops``, ``_s``,
``_usd``) and repeated in each field's docstring.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .checks import format_value
from .errors import CatalogError, InvalidInputError
from .hf_config import model_fields
from .precision import released_from_config
from .text import first_unsafe

__all__ = [
    "ApiModel",
    "ApiPrice",
    "DtypeSpec",
    "GpuSpec",
    "MLASpec",
    "MethodDefaults",
    "MoESpec",
    "ModelSpec",
    "ReleasedPrecision",
    "ReleasedVariant",
    "ServingConstants",
    "WindowSpec",
    "format_validation_error",
]

_ID_MAX = 120

# Physical ranges: wide enough for any real model or chip, narrow enough that no arithmetic overflows.
# Strict types: a count given as text ("8") or a flag given for a number (true) is refused, not converted.
PositiveInt = Annotated[int, Field(gt=0, le=10**9, strict=True)]
PositiveFloat = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False, strict=True)]
#: A hardware rate or size: at least 0.001 of its unit (GiB, GB/s, TFLOPS), at most 1e8.
Rate = Annotated[float, Field(ge=1e-3, le=1e8, allow_inf_nan=False, strict=True)]


def _check_text_id(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > _ID_MAX:
        raise ValueError(f"must be at most {_ID_MAX} characters")
    bad = first_unsafe(value)
    if bad is not None:
        raise ValueError(f"must not contain control, format or unencodable characters (it has {bad})")
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

    @field_validator("aliases", mode="before")
    @classmethod
    def _aliases_are_a_list(cls, value: Any) -> Any:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ValueError('must be a list of names, e.g. ["Org/Model-Name", "short-name"]')
        if not all(isinstance(v, str) for v in value):
            raise ValueError("must hold names (text) only")
        return value

    @field_validator("aliases")
    @classmethod
    def _aliases_are_clean(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_check_text_id(v) for v in value)


NonNegativeInt = Annotated[int, Field(ge=0, le=10**9, strict=True)]


class _Part(BaseModel):
    """A nested part of a spec: frozen, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class MoESpec(_Part):
    """Mixture-of-experts MLP layers (Mixtral, DeepSeek-V3, Qwen3-MoE, gpt-oss, Llama 4)."""

    num_experts: Annotated[int, Field(gt=1)]
    """Routed experts E per MoE layer."""
    experts_per_token: PositiveInt
    """Routed experts K each token goes through."""
    expert_intermediate_size: PositiveInt
    """MLP inner size fE of one routed expert."""
    shared_intermediate_size: NonNegativeInt = 0
    """MLP inner size fS of the shared expert(s), 0 when there is none."""
    num_moe_layers: PositiveInt
    """Layers LM whose MLP is MoE; the other L - LM layers have a dense MLP of intermediate_size."""
    layout: str = ""
    """Which layers are MoE, in words (e.g. "first 3 dense, then MoE")."""

    @model_validator(mode="after")
    def _k_within_e(self) -> MoESpec:
        if self.experts_per_token > self.num_experts:
            raise ValueError(
                f"experts_per_token {self.experts_per_token} exceeds num_experts {self.num_experts}; "
                "a token cannot use more experts than there are"
            )
        return self


class MLASpec(_Part):
    """Multi-head latent attention (DeepSeek-V2/V3/R1, Kimi K2): a compressed KV cache."""

    kv_lora_rank: PositiveInt
    """Latent KV rank rKV."""
    q_lora_rank: PositiveInt | None = None
    """Latent query rank rQ; None for a full query projection."""
    qk_rope_head_dim: PositiveInt
    """Rotary part dR of a query/key head."""
    qk_nope_head_dim: PositiveInt
    """Non-rotary part dN of a query/key head."""
    v_head_dim: PositiveInt
    """Value head size dV."""


class WindowSpec(_Part):
    """Attention that looks back at most ``sliding_window`` tokens in some layers."""

    sliding_window: PositiveInt
    """Window W [tokens] (Llama 4: attention_chunk_size)."""
    num_sliding_layers: PositiveInt
    """Layers LW that use the window; the other L - LW attend to the whole context."""
    kind: Literal["sliding", "chunked"] = "sliding"
    """Sliding window, or chunked attention (Llama 4), modelled the same way."""
    layout: str = ""
    """Which layers use the window, in words."""


class ReleasedPrecision(_Part):
    """The precision a model's weights are published in, as the llmxl dtype that serves them as shipped."""

    dtype: str | None = None
    """Catalog dtype id (llmxl/data/dtypes.toml) of the weights as published; None when llmxl cannot name one."""
    read: str
    """What the config.json says (torch_dtype, quantization_config), or why the precision is assumed."""
    source: str = ""
    """Where it was read (a copy of the config.json); empty for a config.json given by the user."""
    assumed: Annotated[bool, Field(strict=True)] = False
    """True when the config names no precision at all and 16 bits are assumed."""

    @field_validator("read")
    @classmethod
    def _read_is_said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must say what the config names (torch_dtype, quantization_config)")
        return value


class ReleasedVariant(ReleasedPrecision):
    """A repository of the same model published in another precision (e.g. an official ``-FP8`` copy)."""

    aliases: tuple[str, ...]
    """The names (aliases of the model) under which this precision is published."""


class ModelSpec(_Spec):
    """A decoder-only transformer, in Hugging Face ``config.json`` terms.

    Dense models have only the flat fields; mixture-of-experts, latent attention and
    attention windows are the nested parts ``moe``, ``mla`` and ``attention``.
    """

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
    tie_word_embeddings: Annotated[bool, Field(strict=True)] = False
    """Whether the output head shares the input embedding (the `serving` method counts it once)."""
    gated_mlp: Annotated[bool, Field(strict=True)]
    """True when the MLP has three matrices (SwiGLU/GeGLU), false for two."""
    head_dim: PositiveInt | None = None
    """Size d of one attention head; None means hidden_size / num_attention_heads."""
    moe: MoESpec | None = None
    """Mixture-of-experts layers; None for a dense model."""
    mla: MLASpec | None = None
    """Multi-head latent attention; None for multi-head or grouped-query attention."""
    attention: WindowSpec | None = None
    """Sliding-window or chunked attention layers; None when every layer sees the whole context."""
    source: str
    """Where the figures were read."""
    license: str | None = None
    """License of the source the figures were read from (SPDX id, e.g. "Apache-2.0"), when it states one."""
    checked: _dt.date | None = None
    """Date the figures were checked against the source."""
    released: ReleasedPrecision | None = None
    """The precision the weights are published in: the default dtype; None when not recorded (then bf16)."""
    released_variants: tuple[ReleasedVariant, ...] = ()
    """Aliases of the model published in another precision (looked up by those names, they default to it)."""

    @model_validator(mode="after")
    def _variants_are_aliases(self) -> ModelSpec:
        names = {a.lower() for a in self.aliases}
        for variant in self.released_variants:
            for alias in variant.aliases:
                if alias.lower() not in names:
                    raise ValueError(f"released_variants names {alias!r}, which is not an alias of {self.id!r}; add it")
        return self

    @model_validator(mode="after")
    def _shapes_agree(self) -> ModelSpec:
        h, a, k = self.hidden_size, self.num_attention_heads, self.num_key_value_heads
        if self.head_dim is None and h % a:
            raise ValueError(
                f"hidden_size {h} is not a multiple of num_attention_heads {a}; give head_dim if the model sets it"
            )
        if a % k:
            raise ValueError(f"num_attention_heads {a} is not a multiple of num_key_value_heads {k}")
        L = self.num_hidden_layers
        if self.moe is not None and self.moe.num_moe_layers > L:
            raise ValueError(f"moe.num_moe_layers {self.moe.num_moe_layers} exceeds num_hidden_layers {L}")
        if self.attention is not None and self.attention.num_sliding_layers > L:
            raise ValueError(
                f"attention.num_sliding_layers {self.attention.num_sliding_layers} exceeds num_hidden_layers {L}"
            )
        return self

    @property
    def attention_head_dim(self) -> int:
        """Size d of one attention head: head_dim, or h / a when the config does not set it."""
        return self.head_dim if self.head_dim is not None else self.hidden_size // self.num_attention_heads

    @property
    def standard_only_features(self) -> list[str]:
        """What the `reference` and `standard` methods cannot model (empty for a plain dense model)."""
        out = []
        if self.moe is not None:
            out.append(f"mixture of experts ({self.moe.num_experts} experts)")
        if self.mla is not None:
            out.append("multi-head latent attention")
        if self.head_dim is not None and self.head_dim * self.num_attention_heads != self.hidden_size:
            out.append(f"head_dim {self.head_dim} ≠ hidden_size / num_attention_heads")
        return out

    def _layer_parameters(self, active: bool) -> float:
        """Parameters of all layers (one GPU, t = 1), counting K routed experts when ``active``."""
        h, a, L = self.hidden_size, self.num_attention_heads, self.num_hidden_layers
        d = self.attention_head_dim
        if self.mla is not None:
            m = self.mla
            q = (
                h * m.q_lora_rank + m.q_lora_rank * a * (m.qk_nope_head_dim + m.qk_rope_head_dim)
                if m.q_lora_rank
                else (h * a * (m.qk_nope_head_dim + m.qk_rope_head_dim))
            )
            attn = (
                q
                + h * (m.kv_lora_rank + m.qk_rope_head_dim)
                + m.kv_lora_rank * a * (m.qk_nope_head_dim + m.v_head_dim)
                + a * m.v_head_dim * h
            )
        else:
            attn = 2 * h * a * d + 2 * h * self.num_key_value_heads * d
        glu = 3 if self.gated_mlp else 2
        dense = glu * h * self.intermediate_size
        total = L * (attn + 2 * h)
        moe = self.moe
        if moe is None:
            return total + L * dense
        experts = moe.experts_per_token if active else moe.num_experts
        per_moe = (
            glu * h * (experts * moe.expert_intermediate_size + moe.shared_intermediate_size) + h * moe.num_experts
        )
        return total + (L - moe.num_moe_layers) * dense + moe.num_moe_layers * per_moe

    def _embedding_parameters(self) -> int:
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2) + self.hidden_size

    @property
    def total_parameters(self) -> int:
        """All parameters: layers (every expert), norms, embedding and output head (once when tied)."""
        return round(self._layer_parameters(active=False)) + self._embedding_parameters()

    @property
    def active_parameters(self) -> int:
        """Parameters one token uses: as total_parameters with K of the E routed experts."""
        return round(self._layer_parameters(active=True)) + self._embedding_parameters()

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
        fields, where = model_fields(config, id=id, source=source)
        raw = config if isinstance(config, Mapping) else _read_json(config)
        for key in ("license", "released_variants"):  # llmxl's own fields, beside the config's
            if raw.get(key) is not None:
                fields[key] = raw[key]
        given = raw.get("released")
        fields["released"] = given if given is not None else released_from_config(raw)
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise CatalogError(f"{where}: {format_validation_error(exc, 'model', fields.get('id'))}") from None


def _read_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A config.json that model_fields has already read and checked, as a dict."""
    import json

    from .textfile import read_small_file

    data = json.loads(read_small_file(os.fspath(path), "model config", "give the path of a Hugging Face config.json"))
    return data if isinstance(data, dict) else {}


ComputeKind = Literal["fp16", "fp8", "int8", "int4", "fp4"]
NonNegativeFloat = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False, strict=True)]
Seconds = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False, strict=True)]
Fraction = Annotated[float, Field(ge=1e-4, le=1, allow_inf_nan=False, strict=True)]


class ServingConstants(_Part):
    """The `serving` method's fixed costs and efficiencies of one GPU (methodology.md)."""

    allreduce_latency_s: Seconds
    """λ: latency of one small all-reduce over the interconnect [s]."""
    layer_overhead_s: Seconds
    """τL: fixed cost per layer per forward pass (launches, norms, rotary) [s]."""
    prefill_overhead_s: Seconds
    """τPre: fixed cost of a prefill pass (request handling, scheduling, first sample) [s]."""
    decode_overhead_s: Seconds
    """τDec: fixed cost of one decode step (scheduling, sampling, launch) [s]."""
    flops_efficiency: Fraction
    """fe: fraction of dense peak compute reached."""
    hbm_efficiency: Fraction
    """he: fraction of peak memory bandwidth reached."""


Scale = Annotated[float, Field(ge=0.1, le=20, allow_inf_nan=False, strict=True)]  #: a tenth to 20 × the roofline


class PrefillFamily(_Part):
    """GPUs (catalog ids) whose dense models' prompts the load model scales alike by ``dense``."""

    name: str
    gpus: tuple[str, ...]
    dense: Scale


class PrefillScale(_Part):
    """κP, what prompt tokens add to an engine's step relative to the roofline under load ([serving.prefill_scale]
    of llmxl/data/methods.toml): a family's dense factor (1 in none), times ``moe`` for a mixture of experts."""

    moe: Scale
    families: tuple[PrefillFamily, ...] = ()
    source: str
    checked: _dt.date

    def of(self, gpu_id: str, moe: bool) -> float:
        """κP for a GPU (catalog id) and a dense or mixture-of-experts model."""
        dense = next((f.dense for f in self.families if gpu_id.lower() in f.gpus), 1.0)
        return dense * (self.moe if moe else 1.0)


class DecodeFactors(_Part):
    """What a decode step of the load model reaches relative to the serving constants' roofline."""

    bandwidth: Scale
    """× the achieved bandwidth (bandwidth × hbm_efficiency) of every step."""
    overhead: Annotated[float, Field(ge=0, le=20, allow_inf_nan=False, strict=True)]
    """× a step's fixed costs L τL and τDec (τPre stays as it is)."""


class DecodeScale(_Part):
    """κD, the load model's decode scale ([serving.decode_scale] of llmxl/data/methods.toml): the bandwidth and
    fixed cost of a step that 2026 engines reach on the GPUs measured (``gpus``), by architecture (dense GEMMs,
    or a mixture of experts' grouped expert GEMMs), relative to the serving constants (fitted to older
    benchmarks); other GPUs keep the constants as they are."""

    gpus: tuple[str, ...]
    dense: DecodeFactors
    moe: DecodeFactors
    source: str
    checked: _dt.date

    def of(self, gpu_id: str, moe: bool) -> tuple[float, float]:
        """(bandwidth, overhead) factors for a GPU (catalog id) and a dense or mixture-of-experts model."""
        if gpu_id.lower() not in self.gpus:
            return 1.0, 1.0
        f = self.moe if moe else self.dense
        return f.bandwidth, f.overhead


class MethodDefaults(_Part):
    """What a method uses where the caller and the GPU give nothing (llmxl/data/methods.toml)."""

    flops_efficiency: Fraction
    """Default fraction of peak compute."""
    hbm_efficiency: Fraction
    """Default fraction of peak bandwidth."""
    allreduce_latency_s: Seconds | None = None
    """`serving` only: λ [s]."""
    layer_overhead_s: Seconds | None = None
    """`serving` only: τL [s]."""
    prefill_overhead_s: Seconds | None = None
    """`serving` only: τPre [s]."""
    decode_overhead_s: Seconds | None = None
    """`serving` only: τDec [s]."""
    prefill_scale: PrefillScale | None = None
    """`serving` only: κP of the load model by GPU family and architecture (None: 1 everywhere)."""
    decode_scale: DecodeScale | None = None
    """`serving` only: κD of the load model by architecture (None: 1 everywhere)."""
    fitted_gpus: tuple[str, ...] = ()
    """`serving` only: the catalog GPUs whose measurements the constants were fitted to (benchmarks/fit.py
    writes it); a result on any other GPU without constants of its own says that its constants are borrowed."""
    source: str
    """Where the values come from."""
    checked: _dt.date
    """When they were set."""

    @field_validator("fitted_gpus", mode="before")
    @classmethod
    def _gpus_are_a_list(cls, value: Any) -> Any:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ValueError('must be a list of catalog GPU ids, e.g. ["a100-sxm-80gb", "h100-sxm-80gb"]')
        if not all(isinstance(v, str) for v in value):
            raise ValueError("must hold GPU ids (text) only")
        return value

    @field_validator("fitted_gpus")
    @classmethod
    def _gpus_are_clean(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        ids = tuple(_check_text_id(v).lower() for v in value)
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"names {', '.join(twice)} more than once; list each GPU once")
        return ids


class ApiPrice(_Part):
    """A hosted API's price for an open model [USD per 1M tokens], with source and date."""

    provider: str
    """Provider id, lower case (together, groq, deepinfra ...)."""
    model: str
    """The llmxl catalog id of the model served."""
    provider_model: str = ""
    """The provider's own name for the model."""
    prompt_usd_per_1m: NonNegativeFloat
    """Price of 1M prompt (input) tokens [USD]."""
    completion_usd_per_1m: NonNegativeFloat
    """Price of 1M completion (output) tokens [USD]."""
    cached_input_usd_per_1m: NonNegativeFloat | None = None
    """Price of 1M prompt tokens read from the provider's prompt cache [USD]; None when not published."""
    source: str
    """Where the price was read."""
    source_url: str = ""
    """The provider's pricing page, where the source names one."""
    checked: _dt.date
    """The latest date the price is known to hold: when it was read, or the date of the catalog snapshot it
    comes from (``date_basis`` says which); a price that starts later is known to hold from its start."""
    date_basis: Literal["checked", "snapshot"] = "checked"
    """What ``checked`` is: the date llmxl read the price (checked), or the date of the genai-prices snapshot
    that lists it (snapshot: the price was in that catalog then, not necessarily re-read that day)."""
    since: _dt.date | None = None
    """When the price took effect, where the source says so."""
    served_dtype: str | None = None
    """The precision the provider says it serves the model in (a dtype id, e.g. Together's "Turbo" endpoints
    in fp8); None when the provider does not say."""
    note: str = ""
    """What the priced endpoint is when it is not plainly the catalog model: a variant, a capped context, a
    router's price, a tiered or time-of-day price."""

    @field_validator("provider", "model")
    @classmethod
    def _clean(cls, value: str) -> str:
        return _check_text_id(value).lower()


class ApiModel(_Part):
    """Which genai-prices entry prices a catalog model at a provider (llmxl/data/api_models.toml)."""

    model: str
    """The llmxl catalog id."""
    provider: str
    """llmxl's name for the provider (lower case, hyphens: aws-bedrock, huggingface-together ...)."""
    genai_provider: str
    """The genai-prices provider id (aws, huggingface_together ...)."""
    genai_model: str
    """The genai-prices model id at that provider, matched exactly."""
    dtype: str | None = None
    """The precision the provider says it serves, when it says (a dtype id or alias)."""
    note: str = ""
    """What the endpoint is when it is not plainly the catalog model."""

    @field_validator("model", "provider", "genai_provider", "genai_model")
    @classmethod
    def _clean(cls, value: str) -> str:
        return _check_text_id(value)

    @field_validator("provider")
    @classmethod
    def _provider_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", value):
            raise ValueError("must be lower case letters, digits and single hyphens, e.g. aws-bedrock")
        return value


SERVING_FIELDS = {
    "allreduce_latency_s": "allreduce_latency_s",
    "layer_overhead_s": "layer_overhead_s",
    "prefill_overhead_s": "prefill_overhead_s",
    "decode_overhead_s": "decode_overhead_s",
    "serving_flops_efficiency": "flops_efficiency",
    "serving_hbm_efficiency": "hbm_efficiency",
}


class GpuSpec(_Spec):
    """One accelerator: memory, bandwidth, dense peak throughput, interconnect, price."""

    id: str = "custom-gpu"
    memory_gib: Rate
    """Memory per GPU [GiB] (the marketed figure, read as GiB)."""
    hbm_bandwidth_gbs: Rate
    """Memory bandwidth [GB/s, 1e9 bytes/s]."""
    fp16_tflops: Rate
    """Dense fp16/bf16 tensor throughput [TFLOPS]."""
    fp8_tflops: Rate | None = None
    """Dense fp8 tensor throughput [TFLOPS]; absent without fp8 tensor cores."""
    fp4_tflops: Rate | None = None
    """Dense fp4 tensor throughput [TFLOPS]; absent without fp4 tensor cores (before Blackwell)."""
    int8_tops: Rate | None = None
    """Dense int8 tensor throughput [TOPS]; absent when not published."""
    int4_tops: Rate | None = None
    """Dense int4 tensor throughput [TOPS]; absent without int4 tensor cores."""
    device_memory_gib: Rate | None = None
    """Memory the CUDA/ROCm runtime reports as the device total [GiB] (what an engine's memory fraction
    applies to; slightly below the marketed figure); None takes memory_gib."""
    device_memory_source: str | None = None
    """Where device_memory_gib was read (an engine's start-up log, nvidia-smi)."""
    interconnect_gbs: Rate
    """Scale-up (intra-node: NVLink, Infinity Fabric, PCIe) bandwidth per GPU, one direction [GB/s]."""
    interconnect_latency_s: Seconds = 8e-6
    """Minimum latency of one collective message [s] (8e-6, the reference's convention)."""
    domain_gpus: Annotated[int, Field(ge=1, le=100_000, strict=True)] | None = None
    """GPUs sharing the scale-up link (interconnect_gbs: one NVLink domain); None: one 8-GPU node."""
    scaleout_gbs: Rate | None = None
    """Scale-out network per GPU, one direction [GB/s] (its NIC: InfiniBand, RoCE, EFA); None: not known."""
    scaleout_latency_s: Seconds | None = None
    """Added latency of a collective that crosses the scale-out network [s]."""
    system_gpu: str | None = None
    """For a system (llmxl/data/systems.toml): the catalog id of its GPU; None for a bare GPU."""
    links_source: str | None = None
    """Where domain_gpus and the scale-out figures were read."""
    allreduce_latency_s: Seconds | None = None
    """`serving` λ: one small all-reduce [s]; None takes the method's default."""
    layer_overhead_s: Seconds | None = None
    """`serving` τL: fixed cost per layer per pass [s]; None takes the method's default."""
    prefill_overhead_s: Seconds | None = None
    """`serving` τPre: fixed cost of a prefill pass [s]; None takes the method's default."""
    decode_overhead_s: Seconds | None = None
    """`serving` τDec: fixed cost of a decode step [s]; None takes the method's default."""
    serving_flops_efficiency: Fraction | None = None
    """`serving` default fraction of peak compute; None takes the method's default."""
    serving_hbm_efficiency: Fraction | None = None
    """`serving` default fraction of peak bandwidth; None takes the method's default."""
    serving_source: str | None = None
    """Where the serving constants of this GPU come from (measurements they were fitted to)."""
    serving_checked: _dt.date | None = None
    """When the serving constants were fitted."""
    usd_per_hour: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, strict=True)] | None = None
    """Reference on-demand price of one GPU for one hour [USD]."""
    usd_per_hour_source: str | None = None
    """Who quoted usd_per_hour."""
    usd_per_hour_checked: _dt.date | None = None
    """When usd_per_hour was read."""
    board_power_w: Annotated[float, Field(gt=0, le=1e5, allow_inf_nan=False, strict=True)] | None = None
    """Vendor's maximum board power [W] (TDP, TGP or TBP, as board_power_term says); None when not read."""
    board_power_term: str | None = None
    """What the vendor calls board_power_w (maximum TDP, TGP, peak TBP ...)."""
    board_power_source: str | None = None
    """Where board_power_w was read."""
    board_power_checked: _dt.date | None = None
    """When board_power_w was read."""
    serving_power_fraction: Fraction | None = None
    """Typical board draw under serving load / board_power_w; None takes llmxl/data/energy.toml's default."""
    source: str = "user-supplied"
    """Where the figures were read."""
    checked: _dt.date | None = None
    """Date the figures were checked against the source."""

    def peak_tflops(self, compute: ComputeKind) -> float | None:
        """Dense peak [TFLOPS or TOPS] for a compute kind, None when the chip lacks it."""
        return {
            "fp16": self.fp16_tflops,
            "fp8": self.fp8_tflops,
            "fp4": self.fp4_tflops,
            "int8": self.int8_tops,
            "int4": self.int4_tops,
        }[compute]

    def serving_constants(self, defaults: ServingConstants) -> ServingConstants:
        """This GPU's serving constants: its own where it has them, ``defaults`` elsewhere."""
        own = {name: getattr(self, field) for field, name in SERVING_FIELDS.items() if getattr(self, field) is not None}
        return defaults.model_copy(update=own) if own else defaults


_DTYPE_RE = re.compile(r"^w(4|8|16)a(4|8|16)e(4|8|16|32)(-fp8)?$")
Bits = Annotated[float, Field(ge=0.5, le=32, allow_inf_nan=False, strict=True)]
_KIND_BY_BITS: dict[float, ComputeKind] = {16: "fp16", 8: "int8", 4: "int4"}


class DtypeSpec(_Spec):
    """A precision recipe: weight, activation, embedding and KV-cache bits, and a compute kind.

    Bits may be fractional to count block scales: NVFP4 weights are 4.5 bits (one fp8
    scale per 16 values), MXFP4 4.25 bits (one 8-bit scale per 32).
    """

    weight_bits: Bits
    """Bits per weight X (with block scales)."""
    activation_bits: Bits
    """Bits per activation Y."""
    embedding_bits: Bits
    """Bits per embedding-table element Z."""
    kv_cache_bits: Bits | None = None
    """Bits per KV-cache element; None means activation_bits."""
    compute: ComputeKind | None = None
    """Tensor-core kind; derived from max(X, Y) when absent (16 fp16, 8 int8, 4 int4)."""
    description: str = ""
    """What this recipe is, in words."""
    source: str = ""
    """Where the recipe is defined (a format's specification, an engine's documentation)."""
    checked: _dt.date | None = None
    """When it was checked."""

    @model_validator(mode="after")
    def _compute_matches_bits(self) -> DtypeSpec:
        top = max(self.weight_bits, self.activation_bits)
        if self.compute is None and top not in _KIND_BY_BITS:
            raise ValueError(f"compute is required when the widest of weight and activation bits is {top:g}")
        if self.compute == "fp8" and top != 8:
            raise ValueError(
                f"compute 'fp8' needs 8-bit weights and activations at most, got {top:g} bits; "
                "drop the -fp8 suffix or use 8 bits"
            )
        if self.compute == "fp4" and top > 5:
            raise ValueError(f"compute 'fp4' needs 4-bit weights and activations (with scales), got {top:g} bits")
        return self

    @property
    def compute_kind(self) -> ComputeKind:
        """The tensor-core kind this recipe runs on."""
        if self.compute is not None:
            return self.compute
        return _KIND_BY_BITS[max(self.weight_bits, self.activation_bits)]

    @property
    def kv_bits(self) -> float:
        """Bits per KV-cache element: kv_cache_bits, or activation_bits when not given."""
        return self.kv_cache_bits if self.kv_cache_bits is not None else self.activation_bits

    @classmethod
    def parse(cls, name: str) -> DtypeSpec | None:
        """A spec for any well-formed ``wXaYeZ[-fp8]`` name, else None.

        Raises :class:`InvalidInputError` for a well-formed name that is not a valid
        recipe (e.g. ``w16a16e16-fp8``: fp8 compute with 16-bit operands).
        """
        m = _DTYPE_RE.match(name.strip().lower())
        if not m:
            return None
        try:
            return cls(
                id=m.group(0),
                weight_bits=int(m.group(1)),
                activation_bits=int(m.group(2)),
                embedding_bits=int(m.group(3)),
                compute="fp8" if m.group(4) else None,
            )
        except ValidationError as exc:
            raise InvalidInputError(
                f"dtype {name.strip()!r}: " + format_validation_error(exc, "dtype").split(": ", 1)[-1], field="dtype"
            ) from None


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
    shown = "" if isinstance(value, dict) or value is None else f" (got {format_value(value)})"
    name = f"{kind} {entry_id!r}" if entry_id is not None else kind
    if loc == "entry":
        return f"{name}: {msg}"
    return f"{name}: field '{loc}': {msg}{shown}"
