"""From what a caller names to what the arithmetic needs: specs, terms, defaults and fit messages.

A model, GPU and dtype given as catalog names, config.json paths, dicts or specs become specs; a
configuration (model, GPU, dtype, tp, pp, method) becomes its precomputed terms, checked once and
remembered; the defaults a method uses where the caller gives none; and the messages that say why a
configuration does not fit and what would.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from . import catalog, parallel, serving
from .checks import check_count
from .errors import DoesNotFitError, InvalidInputError, UnknownNameError
from .formulas import Terms, activation_bytes, kv_cache_bytes, terms
from .serving import ServingTerms
from .text import skeleton

if TYPE_CHECKING:  # the specs (and pydantic) load with the catalog, on first use
    from .engines import EngineSpec
    from .specs import DtypeSpec, GpuSpec, ModelSpec

__all__ = [
    "NODE_GPUS",
    "configuration",
    "default_efficiencies",
    "divisors",
    "engine",
    "own_id",
    "released_dtype",
    "resolve_dtype",
    "resolve_engine",
    "resolve_gpu",
    "resolve_model",
    "speculative_terms",
]

#: GPUs in one server node: beyond it, tensor- or pipeline-parallel traffic crosses the network.
NODE_GPUS = 8
_GIB = 1024**3


def resolve_model(model: Any) -> ModelSpec:
    """A model spec from a catalog name, a config.json path, a dict of its fields or a ModelSpec.

    A model read from a config gets an id of its own: its ``_name_or_path``, or its path when the name is
    missing or names (or looks like) a catalog model, so that no row, cell or workbook mistakes it for one.
    """
    from .specs import ModelSpec

    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        try:
            return catalog.get_model(model)
        except UnknownNameError:
            text = model.strip()
            if text.lower().endswith(".json") or _is_file(text):
                return own_id(ModelSpec.from_hf_config(text), text)
            raise
    if isinstance(model, os.PathLike):
        return own_id(ModelSpec.from_hf_config(model), model)
    if isinstance(model, Mapping):
        return own_id(ModelSpec.from_hf_config(model), None)
    raise InvalidInputError(
        f"model must be a catalog name, a config.json path, a dict or a ModelSpec, got {type(model).__name__}",
        field="model",
    )


def _is_file(text: str) -> bool:
    try:
        return os.path.isfile(text)
    except (ValueError, OSError):  # a NUL byte: not a file
        return False


def own_id(spec: ModelSpec, path: Any, taken: Any = ()) -> ModelSpec:
    """``spec`` (read from a config at ``path``, or a dict) with an id that names no catalog model nor any of
    ``taken``: its own when it is free, else the path's, else its own marked "(config)"."""
    from .hf_config import path_id

    cat = catalog.get_catalog()

    def free(ident: str) -> bool:
        key = catalog.normalise_name(ident)
        return (
            key not in cat.index["models"]
            and skeleton(ident) not in cat.skeletons["models"]
            and key not in {catalog.normalise_name(t) for t in taken}
        )

    if free(spec.id):
        return spec
    candidates = [path_id(path)] if path is not None else []
    candidates += [f"{spec.id[:110]} (config)"] + [f"{spec.id[:105]} (config {i})" for i in range(2, 100)]
    for ident in candidates:
        if free(ident):
            return spec.model_copy(update={"id": ident, "aliases": ()})
    raise InvalidInputError(f"model config {spec.id!r}: no free id for it; give it an id", field="model")


def resolve_gpu(gpu: Any) -> GpuSpec:
    from .specs import GpuSpec, format_validation_error

    if isinstance(gpu, GpuSpec):
        return gpu
    if isinstance(gpu, str):
        from .systems import system_gpu

        system = system_gpu(gpu)  # a system (llmxl/data/systems.toml): its GPU with its links
        return system if system is not None else catalog.get_gpu(gpu)
    if isinstance(gpu, Mapping):
        from pydantic import ValidationError

        try:
            return GpuSpec(**{str(k): v for k, v in gpu.items()})
        except ValidationError as exc:
            raise InvalidInputError(format_validation_error(exc, "gpu", gpu.get("id")), field="gpu") from None
    raise InvalidInputError(
        f"gpu must be a catalog name, a dict of GPU fields or a GpuSpec, got {type(gpu).__name__}",
        field="gpu",
    )


def resolve_dtype(dtype: Any) -> DtypeSpec:
    from .specs import DtypeSpec

    if isinstance(dtype, DtypeSpec):
        return dtype
    if isinstance(dtype, str):
        return catalog.get_dtype(dtype)
    raise InvalidInputError(f"dtype must be a name such as 'w16a16e16', got {type(dtype).__name__}", field="dtype")


def released_dtype(model: Any) -> tuple[DtypeSpec, str]:
    """The dtype a model is estimated in when the caller names none, and why, in words for an output.

    The precision its weights are published in (``ModelSpec.released``: a catalog entry's record, or what
    a config.json's torch_dtype and quantization_config say); bf16 for a model that records none.

    Returns
    -------
    (DtypeSpec, str) : the dtype, and "as released" or "bf16 assumed: <why>" for the output to name.

    Examples
    --------
    >>> d, why = released_dtype("gpt-oss-120b")
    >>> d.id, why
    ('mxfp4', 'as released')
    """
    m = resolve_model(model)
    r = m.released
    if r is None:
        return catalog.get_dtype("w16a16e16"), "bf16 assumed: no released precision is recorded for this model"
    if r.assumed:
        return catalog.get_dtype("w16a16e16"), "bf16 assumed: the config.json names no torch_dtype or quantization"
    if r.dtype is None:
        raise InvalidInputError(
            f"{m.id}: the precision its weights are published in is not known to llmxl ({r.read}); give a dtype "
            "such as bf16, fp8, int4-awq or nvfp4",
            field="dtype",
        )
    return catalog.get_dtype(r.dtype), "as released"


def divisors(n: int) -> list[int]:
    """The divisors of n in increasing order, in O(√n) steps."""
    small, large = [], []
    i = 1
    while i * i <= n:
        if n % i == 0:
            small.append(i)
            if i * i != n:
                large.append(n // i)
        i += 1
    return small + large[::-1]


_terms_cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
AnyTerms = Terms | ServingTerms


def terms_for(
    model: ModelSpec,
    gpu: GpuSpec,
    dtype: DtypeSpec,
    tp: int,
    pp: int,
    method: str,
    dp: int = 1,
    ep: int = 1,
    redundant: int = 0,
) -> AnyTerms:
    key = (id(model), id(gpu), id(dtype), tp, pp, method, dp, ep, redundant)
    hit = _terms_cache.get(key)
    if hit is not None and hit[0] is model and hit[1] is gpu and hit[2] is dtype:
        return hit[3]
    a = model.num_attention_heads
    if a % tp:
        options = ", ".join(str(d) for d in divisors(a) if d <= 64)
        raise InvalidInputError(
            f"tp={tp} does not divide {model.id}'s {a} attention heads; use one of {options}", field="tp"
        )
    if pp > model.num_hidden_layers:
        raise InvalidInputError(
            f"pp={pp} exceeds {model.id}'s {model.num_hidden_layers} layers; use at most {model.num_hidden_layers}",
            field="pp",
        )
    kind = dtype.compute_kind
    peak = gpu.peak_tflops(kind)
    if peak is None:
        alt = {
            "int4": "w4a16e16 (int4 weights, fp16 compute)",
            "fp4": "mxfp4 (4-bit weights, bf16 compute) or fp8",
            "int8": "fp8 or w8a16e16 (int8 weights, fp16 compute)",
        }.get(kind, "w16a16e16 or w8a16e16")
        raise InvalidInputError(
            f"dtype {dtype.id!r} needs {kind} tensor cores, which {gpu.id} lacks; use {alt}", field="dtype"
        )
    if method == "serving":
        constants = catalog.serving_constants(gpu)
        T: AnyTerms = serving.serving_terms(model, gpu, dtype, tp, pp, constants, peak)
        if parallel.needs_layout(tp, pp, gpu, dp, ep, redundant):
            T = parallel.layout_terms(T, gpu, constants.allreduce_latency_s, dp, ep, redundant)  # type: ignore[arg-type]
    else:
        T = terms(model, gpu, dtype, tp, pp, method, peak)
    if len(_terms_cache) > 512:
        _terms_cache.clear()
    _terms_cache[key] = (model, gpu, dtype, T)
    return T


def memory_needs(T: AnyTerms, b: Any, s: Any, n: Any, mx: Any = max) -> tuple[Any, Any, Any, Any]:
    """Memory per GPU [bytes]: (prompt need, prefill activations, decode KV cache, decode activations).

    The prompt fits when free memory exceeds the prompt need; decoding when it exceeds
    KV cache + decode activations. `serving` counts the prompt's own KV cache in the prompt need.
    """
    if T.method == "serving":
        return serving.memory_needs(T, b, s, n, mx, min if mx is max else np.minimum)  # type: ignore[arg-type]
    act_pre = activation_bytes(T, b, s, mx)
    return act_pre, act_pre, kv_cache_bytes(T, b, s, n), activation_bytes(T, b, 1, mx)


def _fits(T: AnyTerms, b: Any, s: Any, n: Any) -> Any:
    """Whether weights, prompt activations and decoding all fit (element-wise)."""
    left = T.free_bytes
    need_pre, _, kv, act_dec = memory_needs(T, b, s, n, np.maximum)
    return (left > 0) & (left > need_pre) & (left > kv + act_dec)


def smallest_tp(
    model: ModelSpec, gpu: GpuSpec, dtype: DtypeSpec, tp: int, pp: int, method: str, b: Any, s: Any, n: Any
) -> np.ndarray:
    """Smallest tp > the given one that would fit each scenario (0 where none does)."""
    b, s, n = np.broadcast_arrays(np.asarray(b, float), np.asarray(s, float), np.asarray(n, float))
    best = np.zeros(b.shape, dtype=np.int64)
    todo = np.ones(b.shape, dtype=bool)
    for cand in divisors(model.num_attention_heads):
        if cand <= tp:
            continue
        T = terms_for(model, gpu, dtype, cand, pp, method)
        ok = todo & _fits(T, b, s, n)
        best[ok] = cand
        todo &= ~ok
        if not todo.any():
            break
    return best


def _tp_hint(tp_needed: int) -> str:
    if tp_needed:
        return f"try tp={tp_needed}"
    return "no tp fits; use a GPU with more memory, a smaller dtype or more pipeline stages (pp)"


_config_cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def calibrated_gpu(gpu: Any, calibration: Any) -> GpuSpec:
    spec = getattr(calibration, "spec", None)
    if spec is None:
        raise InvalidInputError(
            f"calibration must be what llmxl.calibrate() returns, got {type(calibration).__name__}",
            field="calibration",
        )
    given = resolve_gpu(gpu).id
    if given not in (calibration.gpu, spec.id):
        raise InvalidInputError(
            f"the calibration is of {calibration.gpu}, not {given}; pass gpu={calibration.gpu!r}",
            field="calibration",
        )
    return spec


def check_layout(m: ModelSpec, method: str, t: int, dp: Any, ep: Any, redundant: Any) -> tuple[int, int, int]:
    """(dp, ep, R) checked against the model: the layouts of llmxl.parallel, or a one-line refusal naming why."""
    d = check_count(dp, "dp")
    e = (t * d if d > 1 else 1) if ep is None else check_count(ep, "ep")  # None: whole experts per GPU under dp
    if type(redundant) is not int:
        from .checks import number

        value = number(redundant, "redundant_experts")
        redundant = 0 if value == 0 else check_count(value, "redundant_experts")
    if not 0 <= redundant <= 10**6:
        raise InvalidInputError(
            f"redundant_experts must be a whole number of experts, 0 or more, got {redundant!r}; use e.g. 32",
            field="redundant_experts",
        )
    if d == 1 and e == 1 and redundant == 0:
        return 1, 1, 0
    if method != "serving":
        raise InvalidInputError(
            f"dp={d}, ep={e} are modelled by method 'serving' only, not '{method}'; use method='serving'",
            field="method",
        )
    moe = m.moe
    if moe is None:
        field, value = ("dp", d) if d > 1 else (("ep", e) if e > 1 else ("redundant_experts", redundant))
        raise InvalidInputError(
            f"{field}={value} needs a mixture-of-experts model and {m.id} is dense; "
            "run more replicas instead (plan counts them), or use dp=1, ep=1",
            field=field,
        )
    G = t * d
    if e > G:
        raise InvalidInputError(
            f"ep={e} is more than the tp × dp = {G} GPUs of a pipeline stage; use ep={G}, "
            f"or dp={e // t if e % t == 0 else e} with ep={e} (ep = tp × dp), or ep=1",
            field="ep",
        )
    if e not in (1, G):
        raise InvalidInputError(
            f"ep={e} must be 1 (experts tensor-parallel over the tp × dp = {G} GPUs) or tp × dp = {G} "
            f"(whole experts on each GPU); use ep={G} or ep=1",
            field="ep",
        )
    E = moe.num_experts
    if e == 1 and redundant:
        raise InvalidInputError(
            f"redundant_experts={redundant} needs expert parallelism (ep > 1); use dp > 1 with ep = tp × dp, "
            "or redundant_experts=0",
            field="redundant_experts",
        )
    if (E + redundant) % e:
        fit = -E % e
        options = ", ".join(str(x) for x in divisors(E) if x > 1 and x <= 1024)
        raise InvalidInputError(
            f"{m.id}'s {E} routed experts{f' + {redundant} redundant' if redundant else ''} do not spread evenly "
            f"over ep={e} ranks; use ep dividing {E} ({options}) or redundant_experts={fit} (EPLB: "
            f"{E + fit} = {e} × {(E + fit) // e})",
            field="ep",
        )
    return d, e, redundant


def configuration(
    model: Any,
    gpu: Any,
    dtype: Any,
    tp: Any,
    pp: Any,
    method: str,
    dp: Any = 1,
    ep: Any = None,
    redundant_experts: Any = 0,
) -> tuple[ModelSpec, GpuSpec, DtypeSpec, AnyTerms, tuple[str, ...], float, float]:
    """Resolve and check what the workload does not change; remembered for names given as text.

    dp, ep, redundant_experts: the expert- and data-parallel layout (llmxl.parallel); 1, None (1), 0 is tp and pp
    alone; ep None is tp × dp when dp > 1.
    """
    cat = catalog.get_catalog()
    key = None
    if (
        type(model) is str
        and type(gpu) is str
        and (dtype is None or type(dtype) is str)
        and type(tp) is int
        and type(pp) is int
        and type(dp) is int
        and (ep is None or type(ep) is int)
        and type(redundant_experts) is int
    ):
        key = (model, gpu, dtype, tp, pp, method, dp, ep, redundant_experts)
        hit = _config_cache.get(key)
        if hit is not None and hit[0] is cat:  # a reloaded catalog invalidates it
            return hit[1]
    m = resolve_model(model)
    g = resolve_gpu(gpu)
    d = released_dtype(m)[0] if dtype is None else resolve_dtype(dtype)
    t = check_count(tp, "tp")
    p = check_count(pp, "pp")
    if method != "serving":
        features = m.standard_only_features
        if features:
            raise InvalidInputError(
                f"{m.id} has {' and '.join(features)}, which method '{method}' cannot model; use method='serving'",
                field="method",
            )
    dp_, ep_, red = check_layout(m, method, t, dp, ep, redundant_experts)
    T = terms_for(m, g, d, t, p, method, dp_, ep_, red)
    if T.free_bytes <= 0:
        hint = (
            "give the experts more GPUs (a larger dp with ep = tp × dp) or more pipeline stages (pp)"
            if ep_ > 1 or dp_ > 1
            else _tp_hint(int(smallest_tp(m, g, d, t, p, method, 1, 1, 1)[()]))
        )
        raise DoesNotFitError(
            f"weights need {T.weights_per_gpu_bytes / _GIB:.1f} GiB per GPU but {g.id} has "
            f"{g.memory_gib:g} GiB; {hint}",
            field="tp",
        )
    warnings: tuple[str, ...] = ()
    if m.num_hidden_layers % p:
        stage = T.stage_layers if method == "serving" else T.layers_per_gpu  # type: ignore[union-attr]
        warnings = (
            f"pp={p} does not divide {m.id}'s {m.num_hidden_layers} layers; each stage is modelled with {stage} layers",
        )
    n = t * dp_ * p
    if n > parallel.domain_gpus(g) and g.scaleout_gbs is None:
        what = f"tp × pp = {n}" if dp_ == 1 else f"tp × dp × pp = {n}"
        warnings += (
            f"{what} GPUs is more than one {parallel.domain_gpus(g)}-GPU node: the link between nodes is the network, "
            f"slower than the {g.interconnect_gbs:g} GB/s intra-node figure used here",
        )
    if red:
        warnings += (
            f"ep={ep_} places {m.moe.num_experts} + {red} redundant routed experts, {T.local_experts:g} per GPU, "  # type: ignore[union-attr]
            "as an expert load balancer (EPLB) does; the load over the experts is taken as balanced",
        )
    if method != "serving" and m.attention is not None:
        warnings += (
            f"{m.id}'s attention window ({m.attention.sliding_window} tokens) is not modelled by method "
            f"'{method}'; method='serving' models it",
        )
    if method == "serving":
        borrowed = borrowed_serving_constants(g)
        warnings += (borrowed,) if borrowed else ()
    fe, he = default_efficiencies(g, method)
    result = (m, g, d, T, warnings, fe, he)
    if key is not None and cat.found.get(("models", model)) is m:  # not for config.json paths, which may change
        if len(_config_cache) > 512:
            _config_cache.clear()
        _config_cache[key] = (cat, result)
    return result


def borrowed_serving_constants(gpu: GpuSpec) -> str:
    """Empty, or one line saying that a GPU's `serving` constants come from a fit to other GPUs.

    Borrowed: the GPU is not among the GPUs the defaults were fitted to (llmxl/data/methods.toml's
    fitted_gpus) and its entry lacks some of its own (a saved calibration has them all).
    """
    from .specs import SERVING_FIELDS

    d = catalog.method_defaults("serving")
    if gpu.id.lower() in d.fitted_gpus or (gpu.system_gpu or "").lower() in d.fitted_gpus:
        return ""
    missing = [name for field, name in SERVING_FIELDS.items() if getattr(gpu, field) is None]
    if not missing:
        return ""
    which = "" if len(missing) == len(SERVING_FIELDS) else " " + ", ".join(missing)
    return (
        f"serving constants{which} for {gpu.id} come from the fit to {', '.join(d.fitted_gpus)} "
        "(llmxl/data/methods.toml); calibrate to your own runs (llmxl calibrate) to replace them"
    )


def _family_gpu(gpu: GpuSpec) -> str:
    """The catalog GPU whose family a GPU is in: a system's GPU, a calibration's (``h100-sxm-80gb@my-vllm``)."""
    return (gpu.system_gpu or gpu.id).split("@", 1)[0]


def prefill_scale(gpu: GpuSpec, model: Any) -> float:
    """κP of the load model for a GPU and a model (llmxl/data/methods.toml [serving.prefill_scale]; 1 without)."""
    scale = catalog.method_defaults("serving").prefill_scale
    return 1.0 if scale is None else scale.of(_family_gpu(gpu), model.moe is not None)


def decode_scale(gpu: GpuSpec, model: Any) -> tuple[float, float]:
    """κD of the load model for a GPU and a model: (bandwidth, overhead) factors (llmxl/data/methods.toml
    [serving.decode_scale]; (1, 1) without, and on a GPU it does not list)."""
    scale = catalog.method_defaults("serving").decode_scale
    return (1.0, 1.0) if scale is None else scale.of(_family_gpu(gpu), model.moe is not None)


def default_efficiencies(gpu: GpuSpec, method: str) -> tuple[float, float]:
    """The (FLOPs, HBM) efficiencies a method uses when the caller gives none.

    `serving`: the GPU entry's own, else the method's fitted defaults; `standard` and
    `reference`: the published table's 0.7 and 0.9 (llmxl/data/methods.toml).
    """
    if method == "serving":
        c = catalog.serving_constants(gpu)
        return c.flops_efficiency, c.hbm_efficiency
    d = catalog.method_defaults(method)
    return d.flops_efficiency, d.hbm_efficiency


def raise_if_not_fit(
    m: ModelSpec,
    g: GpuSpec,
    d: DtypeSpec,
    T: Terms,
    b: Any,
    s: Any,
    n: Any,
    need_pre: Any,
    act_dec: Any,
    kv: Any,
    left: float,
) -> None:
    prompt_bad = np.logical_not(left > need_pre)
    decode_bad = np.logical_not(left > kv + act_dec)
    if not (np.any(prompt_bad) or np.any(decode_bad)):
        return
    arrays = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (b, s, n, need_pre, act_dec, kv)))
    bad = np.broadcast_to(prompt_bad | decode_bad, arrays[0].shape)
    i = tuple(int(j) for j in np.argwhere(bad)[0]) if bad.ndim else ()
    vals = [float(a[i]) for a in arrays]
    where = "" if not i else f"scenario {list(i) if len(i) > 1 else i[0]}: "
    need = 0 if getattr(T, "dp", 1) > 1 else int(smallest_tp(m, g, d, T.t, T.p, T.method, *vals[:3])[()])
    raise DoesNotFitError(where + fit_message(m, g, T, *vals, left, need), field="batch_size")


def fit_message(
    m: ModelSpec,
    g: GpuSpec,
    T: AnyTerms,
    b: float,
    s: float,
    n: float,
    need_pre: float,
    act_dec: float,
    kv: float,
    left: float,
    need: int,
) -> str:
    hint = _tp_hint(need)
    if getattr(T, "dp", 1) > 1:  # a layout: more ranks hold the KV cache
        hint = "use a larger dp (each rank holds batch_size / dp sequences) or a GPU with more memory"
    # Both needs grow in proportion to the batch: the largest batch that fits is the same for
    # either message. Strictly below left / per-sequence need, since fitting means left > need.
    per_sequence = max(need_pre, kv + act_dec) / b
    max_batch = math.ceil(left / per_sequence) - 1 if per_sequence > 0 else 0
    fix = f"use batch_size ≤ {max_batch} or {hint}" if max_batch >= 1 else hint
    if not left > need_pre:
        what = "prompt activations and KV cache" if T.method == "serving" else "prompt activations"
        need_gib, left_gib = _gib_apart(need_pre, left)
        return (
            f"{what} for batch_size {b:g} × {s:g} tokens need {need_gib} GiB per GPU "
            f"but {left_gib} GiB is left after weights on {g.id}; {fix}"
        )
    kv_gib, left_gib = _gib_apart(kv, left)
    return (
        f"KV cache for batch_size {b:g} × {s + n:g} tokens needs {kv_gib} GiB per GPU "
        f"(plus {_gib_or_mib(act_dec)} activations) but {left_gib} GiB is left after weights "
        f"on {g.id}; {fix}"
    )


def _gib_or_mib(n: float) -> str:
    """A byte count in GiB, or in MiB below a tenth of a GiB, where "0.0 GiB" would hide it."""
    return f"{n / _GIB:.1f} GiB" if n >= _GIB / 10 else f"{n / 2**20:.1f} MiB"


def _gib_apart(a: float, b: float) -> tuple[str, str]:
    """Two byte counts in GiB with one decimal, or as many more (up to four) as it takes for them to read
    differently: "need 177.4 GiB but 177.4 GiB is left" would read as a contradiction."""
    for digits in range(1, 5):
        x, y = f"{a / _GIB:.{digits}f}", f"{b / _GIB:.{digits}f}"
        if x != y:
            break
    return x, y


def engine(name: str | None = None, **settings: Any) -> EngineSpec:
    """A serving engine's profile, with settings changed by the engine's own flag names.

    Parameters
    ----------
    name : "vllm", "sglang", "tensorrt-llm" (or an alias); None the default engine (vllm).
    settings : The engine's flags, e.g. ``gpu_memory_utilization=0.95, max_num_seqs=512,
        max_num_batched_tokens=8192`` (vLLM), ``mem_fraction_static=0.85, chunked_prefill_size=4096``
        (SGLang), ``free_gpu_memory_fraction=0.9, max_batch_size=512`` (TensorRT-LLM); also
        ``block_size``, ``front_end_s`` (the front-end time a client sees in every TTFT [s]) and
        ``reserve_gib`` (memory kept out of the KV cache per GPU beyond weights and workspace [GiB]), as
        ``llmxl calibrate`` fits them.

    Examples
    --------
    >>> e = engine("vllm", max_num_seqs=512)
    >>> e.id, e.max_num_seqs, e.memory_fraction
    ('vllm', 512, 0.9)
    """
    if name is not None and not isinstance(name, str):
        raise InvalidInputError(f"engine must be a name such as 'vllm', got {type(name).__name__}", field="engine")
    spec = catalog.get_engine(name)
    return _with_settings(spec, settings) if settings else spec


def _with_settings(spec: EngineSpec, settings: Mapping[str, Any]) -> EngineSpec:
    from .checks import as_number

    known = spec.settings
    update: dict[str, Any] = {}
    for flag, value in settings.items():
        field = known.get(str(flag))
        if field is None:
            import difflib

            close = difflib.get_close_matches(str(flag), list(known), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(known)}"
            raise InvalidInputError(f"{spec.id} has no setting {flag!r}; {hint}", field="engine")
        if field in _ENGINE_COUNTS:
            count, top = check_count(value, flag), _ENGINE_COUNTS[field]
            if count > top:
                raise InvalidInputError(
                    f"{flag} {count:,} is more than the {top:,} llmxl models; give at most {top:,}", field=flag
                )
            update[field] = count
            continue
        v = as_number(value, flag)
        if isinstance(v, np.ndarray) or not math.isfinite(v):
            raise InvalidInputError(f"{flag} must be a single finite number, got {value!r}", field=flag)
        low, high, example = _ENGINE_RANGES.get(field, (0.0, 10.0, "0.02"))
        if not low <= v <= high:
            raise InvalidInputError(
                f"{flag} must be in [{low:g}, {high:g}], got {v:g}; give e.g. {example}", field=flag
            )
        update[field] = float(v)
    return spec.model_copy(update=update)


#: The largest engine counts a setting may give: more sequences than any engine runs, a budget beyond any context.
#: The physical range of an engine's other settings, with an example for the message.
_ENGINE_RANGES = {"memory_fraction": (1e-4, 1.0, "0.9"), "reserve_gib": (0.0, 1024.0, "2")}
_ENGINE_COUNTS = {"max_num_seqs": 65536, "max_num_batched_tokens": 10**6, "block_size": 1024}


def resolve_engine(value: Any = None) -> EngineSpec:
    """An engine from what a caller gives: None (the default), a name, an :class:`EngineSpec`, or text
    naming settings after a colon, ``"vllm:max_num_seqs=512,gpu_memory_utilization=0.95"`` (the CLI's
    and a spreadsheet cell's way)."""
    from .engines import EngineSpec

    if value is None or isinstance(value, EngineSpec):
        return engine() if value is None else value
    if not isinstance(value, str):
        raise InvalidInputError(
            f"engine must be a name such as 'vllm' or an EngineSpec, got {type(value).__name__}", field="engine"
        )
    name, _, rest = value.partition(":")
    settings: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        flag, eq, setting = part.partition("=")
        if not eq or not flag.strip() or not setting.strip():
            raise InvalidInputError(
                f"engine setting {part!r} must read flag=value, e.g. 'vllm:max_num_seqs=512'", field="engine"
            )
        settings[flag.strip()] = setting.strip()
    return engine(name.strip() or None, **settings)


def speculative_terms(m: Any, T: Any, method: Any, k: Any, alpha: Any, warnings: list[str]) -> tuple[Any, Any]:
    """(serving terms with the draft's weights and KV cache, llmxl.speculative.Speculation) for the speculative
    inputs of estimate() and the faces above it; (T, None) without speculation. The note of a default
    acceptance rate goes to ``warnings``. Refused for any method but `serving`."""
    from . import speculative
    from .speculation import resolve_speculative

    choice = resolve_speculative(m.id, method, k, alpha, catalog.get_catalog().speculative)
    if choice is None:
        return T, None
    if T.method != "serving":
        raise InvalidInputError(
            f"speculative decoding is priced by the serving method only, got method={T.method!r}; use "
            "method='serving' or leave speculative out",
            field="speculative",
        )
    moe_block = bool(T.n_moe)
    terms, spec = speculative.speculation(
        T, choice.method, choice.k, choice.alpha, moe_block=moe_block, f=m.intermediate_size,
        draft_vocab=choice.draft_vocab,
    )  # fmt: skip
    if choice.note:
        warnings.append(choice.note)
    return terms, spec
