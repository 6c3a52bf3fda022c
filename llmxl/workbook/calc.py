"""methodology.md as native spreadsheet formulas.

Two tables on the **Calc** sheet carry the arithmetic, one quantity per column
with its symbol and unit in the header, so an analyst can audit every step:

* the *configuration* table, one row per (model, GPU) pair, holds what the
  model, GPU, dtype, tp, pp, method and efficiencies fix (catalog lookups,
  parameter counts, weight memory, effective FLOP/s and bandwidth, a status);
* the *scenario* table, one row per (batch, prompt, completion) scenario,
  holds the per-pass latencies, KV cache, activations, results and a status.
  It reads its configuration's values with ``INDEX(cfg_<name>, <row>)``.

Formulas use only INDEX, MATCH, MAX, MIN, IF, IFERROR, ROUND, ROUNDUP, POWER, LN, SUM,
SUBSTITUTE, arithmetic, comparison and ``&``, which Excel and LibreOffice compute alike.
Every text lookup escapes MATCH's wildcards (``*``, ``?``, ``~``), so a name finds only itself. Templates
below name other columns as ``{name}`` (same row) and configuration columns
as ``[name]``; :func:`render` turns them into cell references. Defined names are
case-insensitive in Excel, so no two column names may differ only in case.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from openpyxl.utils import get_column_letter

GIB = "1073741824"


def _gib_apart(a: str, b: str, between: str) -> str:
    """Text of two byte counts in GiB joined by ``between``: one decimal, or as many more (up to four) as it
    takes for them to read differently, as llmxl's own messages do ("need 15.8 GiB but 15.8 GiB is left"
    would read as a contradiction)."""
    ga, gb = f"{a}/{GIB}", f"{b}/{GIB}"
    digits = "4"
    for d in (3, 2, 1):
        digits = f"IF(ROUND({ga},{d})<>ROUND({gb},{d}),{d},{digits})"
    return f'ROUND({ga},{digits})&"{between}"&ROUND({gb},{digits})'


class Formula(str):
    """A formula llmxl generated. Any other string written to a cell is text, never a formula.

    ``pattern`` (optional) is the formula with ``{name}`` where ``args`` put whole numbers (rows):
    the cells of a table column share one pattern, so their cached values are computed together
    (see :mod:`llmxl.workbook.evaluate`).
    """

    pattern: str | None = None
    args: dict[str, int] | None = None

    @classmethod
    def of(cls, pattern: str, **args: int) -> Formula:
        """``pattern`` with ``args`` filled in, remembering both."""
        f = cls(pattern.format(**args))
        f.pattern, f.args = pattern, args
        return f


@dataclass(frozen=True)
class Column:
    """One quantity: its name, its header (symbol and unit) and its formula template.

    ``family`` is "roofline" for columns only `reference` and `standard` read, "serving" for
    columns only `serving` reads, None for columns every method reads. A template of the form
    ``CHOOSE{serving}|{roofline}`` holds one expression per family (see :func:`scenario_columns`).
    """

    name: str
    header: str
    template: str  # "" for an input column, filled by the caller
    family: str | None = None


def _exact(value: str) -> str:
    """``value`` with MATCH's wildcards escaped, so that MATCH(…, 0) finds exactly that text."""
    return f'SUBSTITUTE(SUBSTITUTE(SUBSTITUTE({value},"~","~~"),"*","~*"),"?","~?")'


def _lookup(value: str, kind: str) -> str:
    """Row of a catalog entry named by id, else by alias (0 when unknown), matched exactly."""
    by_alias = f"INDEX(cat_{kind}_alias_id,MATCH({_exact(value)},cat_{kind}_alias,0))"
    return f"IFERROR(MATCH({_exact(value)},cat_{kind}_id,0),IFERROR(MATCH({_exact(by_alias)},cat_{kind}_id,0),0))"


# --- catalog lookups and configuration-level terms ------------------------------------------
# Inputs of a configuration row: model, gpu, dtype, method, tp, pp, fe, he, price_in.
CONFIG_COLUMNS: list[Column] = [
    Column("model", "Model", ""),
    Column("gpu", "GPU", ""),
    Column("dtype", "Dtype", ""),
    Column("method", "Method", ""),
    Column("tp", "Tensor parallel t", ""),
    Column("pp", "Pipeline parallel p", ""),
    Column("fe", "FLOPs efficiency fe", ""),
    Column("he", "HBM efficiency he", ""),
    Column("price_in", "Price given [USD/GPU-h]", ""),
    Column(
        "mi",
        "Model row (by id, else by alias)",
        _lookup("{model}", "model"),
    ),
    Column(
        "gi",
        "GPU row (by id, else by alias)",
        _lookup("{gpu}", "gpu"),
    ),
    Column(
        "di",
        "Dtype row (by id, else by alias)",
        _lookup("{dtype}", "dtype"),
    ),
    Column("L", "Layers L", "INDEX(cat_model_layers,{mi})"),
    Column("h", "Hidden size h", "INDEX(cat_model_hidden,{mi})"),
    Column("a", "Attention heads a", "INDEX(cat_model_heads,{mi})"),
    Column("k", "KV heads k", "INDEX(cat_model_kv_heads,{mi})"),
    Column("f", "MLP size f", "INDEX(cat_model_mlp,{mi})"),
    Column("V", "Vocabulary V", "INDEX(cat_model_vocab,{mi})"),
    Column("ctx", "Context [tokens]", "INDEX(cat_model_context,{mi})"),
    Column("glu", "Gated MLP (1/0)", "INDEX(cat_model_gated,{mi})"),
    Column("hd", "Head dim d", "INDEX(cat_model_head_dim,{mi})"),
    Column("tied", "Tied output head (1/0)", "INDEX(cat_model_tied,{mi})"),
    Column("E", "Routed experts E", "INDEX(cat_model_experts,{mi})"),
    Column("topk", "Experts per token K", "INDEX(cat_model_experts_per_token,{mi})"),
    Column("f_exp", "Expert MLP size fE", "INDEX(cat_model_expert_mlp,{mi})"),
    Column("f_sh", "Shared-expert MLP size fS", "INDEX(cat_model_shared_mlp,{mi})"),
    Column("LM", "MoE layers LM", "INDEX(cat_model_moe_layers,{mi})"),
    Column("rKV", "MLA latent KV rank rKV", "INDEX(cat_model_kv_lora_rank,{mi})"),
    Column("rQ", "MLA latent query rank rQ", "INDEX(cat_model_q_lora_rank,{mi})"),
    Column("dR", "MLA rope dim dR", "INDEX(cat_model_rope_dim,{mi})"),
    Column("dN", "MLA nope dim dN", "INDEX(cat_model_nope_dim,{mi})"),
    Column("dV", "MLA value dim dV", "INDEX(cat_model_v_dim,{mi})"),
    Column("Wn", "Window W [tokens]", "INDEX(cat_model_window,{mi})"),
    Column("LWin", "Window layers LW", "INDEX(cat_model_window_layers,{mi})"),
    Column("Bw", "Weight bytes Bw", "INDEX(cat_dtype_weight_bits,{di})/8"),
    Column("Ba", "Activation bytes Ba", "INDEX(cat_dtype_activation_bits,{di})/8"),
    Column("Be", "Embedding bytes Be", "INDEX(cat_dtype_embedding_bits,{di})/8"),
    Column("Bkv", "KV-cache bytes Bkv", "INDEX(cat_dtype_kv_bits,{di})/8"),
    Column("compute", "Compute kind", "INDEX(cat_dtype_compute,{di})"),
    Column("mem", "GPU memory [GiB]", "INDEX(cat_gpu_memory_gib,{gi})"),
    Column("hbm_gbs", "HBM bandwidth [GB/s]", "INDEX(cat_gpu_hbm_gbs,{gi})"),
    Column("nvl", "Interconnect [GB/s]", "INDEX(cat_gpu_link_gbs,{gi})"),
    Column("lam", "Link latency lam [s]", "INDEX(cat_gpu_link_latency_s,{gi})"),
    Column("lam_s", "Serving: all-reduce latency λ [s]", "INDEX(cat_gpu_allreduce_s,{gi})"),
    Column("tauL", "Serving: layer overhead τL [s]", "INDEX(cat_gpu_layer_overhead_s,{gi})"),
    Column("tauPre", "Serving: prefill overhead τPre [s]", "INDEX(cat_gpu_prefill_overhead_s,{gi})"),
    Column("tauDec", "Serving: decode overhead τDec [s]", "INDEX(cat_gpu_decode_overhead_s,{gi})"),
    Column("mth", "Method row", f"IFERROR(MATCH({_exact('{method}')},cat_method_id,0),0)"),
    Column(
        "fe_used",
        "FLOPs efficiency used (blank input: the method's default)",
        'IF({fe}="",IF({method}="serving",INDEX(cat_gpu_serving_fe,{gi}),INDEX(cat_method_fe,{mth})),{fe})',
    ),
    Column(
        "he_used",
        "HBM efficiency used (blank input: the method's default)",
        'IF({he}="",IF({method}="serving",INDEX(cat_gpu_serving_he,{gi}),INDEX(cat_method_he,{mth})),{he})',
    ),
    Column(
        "peak",
        "Peak [TFLOPS] (0: the GPU lacks it)",
        'MAX(0,IF({compute}="fp16",INDEX(cat_gpu_fp16_tflops,{gi}),IF({compute}="fp8",INDEX(cat_gpu_fp8_tflops,{gi}),'
        'IF({compute}="fp4",INDEX(cat_gpu_fp4_tflops,{gi}),'
        'IF({compute}="int8",INDEX(cat_gpu_int8_tops,{gi}),INDEX(cat_gpu_int4_tops,{gi}))))))',
    ),
    Column(
        "rs",
        "Serving: score rate / compute rate (attention at the KV cache's precision)",
        'IF(INDEX(cat_dtype_kv_bits,{di})<=IF({compute}="fp16",16,IF(OR({compute}="fp4",{compute}="int4"),4,8)),1,'
        "MIN(1,IF(AND(INDEX(cat_dtype_kv_bits,{di})<=8,MAX(0,INDEX(cat_gpu_fp8_tflops,{gi}))>0),"
        "MAX(0,INDEX(cat_gpu_fp8_tflops,{gi})),MAX(0,INDEX(cat_gpu_fp16_tflops,{gi})))/MAX({peak},1E-300)))",
    ),
    Column(
        "price",
        "Price used [USD/GPU-h]",
        'IF({price_in}="",IF(INDEX(cat_gpu_usd_per_hour,{gi})="","",INDEX(cat_gpu_usd_per_hour,{gi})),{price_in})',
    ),
    Column("Lp", "Layers per GPU Lp", "ROUND({L}/{pp}-0.5,0)"),
    Column("kg", "KV heads per GPU kg", "MAX({k}/{tp},1)"),
    Column("P_attn", "Attention params per layer", "2*{h}*{h}+2*{h}*({h}*{kg}*{tp}/{a})"),
    Column("P_mlp", "MLP params per layer", "IF({glu}=1,3,2)*{h}*{f}"),
    Column("Lw", "Layers holding weights", 'IF({method}="reference",{L},{Lp})'),
    Column(
        "W",
        "Weights per GPU W [bytes]",
        "{Lw}*({P_attn}*{Bw}/{tp}+{P_mlp}*{Bw}/{tp}+2*{h}*{Bw})+{V}*{h}*{Be}/{tp}+{h}*{Bw}/{tp}",
    ),
    # --- the serving method (methodology.md, "The `serving` method") ---
    Column("Ls", "Serving: largest stage Ls", "ROUNDUP({L}/{pp},0)"),
    Column(
        "PA",
        "Serving: attention params per GPU PA",
        "IF({rKV}>0,IF({rQ}>0,{h}*{rQ}+{rQ}*{a}*({dN}+{dR})/{tp},{h}*{a}*({dN}+{dR})/{tp})"
        "+{h}*({rKV}+{dR})+{rKV}*{a}*({dN}+{dV})/{tp}+{a}*{dV}*{h}/{tp},2*{h}*{a}*{hd}/{tp}+2*{h}*{kg}*{hd})",
    ),
    Column("kappa", "Serving: KV bytes per token per layer κ", "IF({rKV}>0,({rKV}+{dR})*{Bkv},2*{kg}*{hd}*{Bkv})"),
    Column("cs", "Serving: score FLOPs coefficient", "IF({rKV}>0,2*{a}/{tp}*({dN}+{dR}+{dV}),4*{a}/{tp}*{hd})"),
    Column("csl", "Serving: MLA latent score coefficient", "IF({rKV}>0,2*{a}/{tp}*(2*{rKV}+{dR}),0)"),
    Column("LF", "Serving: full-attention layers LF", "{L}-{LWin}"),
    Column("Ld", "Serving: dense-MLP layers L-LM", "{L}-{LM}"),
    Column("PD", "Serving: dense MLP params per GPU PD", "IF({glu}=1,3,2)*{h}*{f}/{tp}"),
    Column("PE", "Serving: one expert's params per GPU PE", "IF({glu}=1,3,2)*{h}*{f_exp}/{tp}"),
    Column("PSR", "Serving: shared expert + router params PS+PR", "IF({glu}=1,3,2)*{h}*{f_sh}/{tp}+{h}*{E}"),
    Column("Pmoe", "Serving: MoE params per token K·PE+PS+PR", "{topk}*{PE}+{PSR}"),
    Column("q", "Serving: chance a token skips an expert, 1 - K/E", "IF({E}>0,1-{topk}/{E},1)"),
    Column("lnq", "Serving: ln(1 - K/E) (-1000 when every expert is used)", "IF({q}>0,LN({q}),-1000)"),
    Column(
        "W_s",
        "Serving: weights per GPU [bytes]",
        "{Ls}/{L}*({Ld}*({PA}+{PD})+{LM}*({PA}+{E}*{PE}+{PSR}))*{Bw}+{V}*{h}*{Be}*IF({tied}=1,1,2)/{tp}+{h}*{Bw}",
    ),
    Column("lam_t", "Serving: all-reduce latency when t > 1 [s]", "IF({tp}>1,{lam_s},0)"),
    Column("c_ar", "Serving: all-reduce seconds per token", "2*({tp}-1)/{tp}*{h}*{Ba}/({nvl}*1E+9)"),
    Column(
        "f_act",
        "Serving: MLP width for activations",
        "IF({E}>0,IF({LM}<{L},MAX({topk}*{f_exp}+{f_sh},{f}),{topk}*{f_exp}+{f_sh}),{f})",
    ),
    Column(
        "c_act",
        "Serving: activation bytes per token",
        "MAX(3*{Ba}*{h}/{tp},(2*{h}+4*{a})*{Ba}/{tp},MAX({Ba},{Ba}*{f_act}/{h})*{h}/{tp},2*{h}/{tp})",
    ),
    Column("c_kv", "Serving: KV bytes per token per layer per sequence (Ls/L)·κ", "{Ls}/{L}*{kappa}"),
    Column("o_pre", "Serving: fixed costs of a prefill pass L·τL + τPre [s]", "{L}*{tauL}+{tauPre}"),
    Column("o_dec", "Serving: fixed costs of a decode step L·τL + τDec [s]", "{L}*{tauL}+{tauDec}"),
    Column("srv", "Method is serving (1/0)", 'IF({method}="serving",1,0)'),
    # --- what the chosen method uses ---
    Column("Wt", "Weights per GPU used [bytes]", 'IF({method}="serving",{W_s},{W})'),
    Column("left", "Memory left after weights [bytes]", f"{{mem}}*{GIB}-{{Wt}}"),
    Column("F_eff", "Effective compute F [FLOP/s]", "{peak}*{fe_used}*1E+12"),
    Column("M_eff", "Effective bandwidth M [bytes/s]", "{hbm_gbs}*{he_used}*1E+9"),
    Column("mlpfac", "MLP FLOPs factor", 'IF({method}="reference",4,IF({glu}=1,6,4))'),
    Column(
        "status",
        "Configuration status",
        'IF({mi}=0,"unknown model "&{model},IF({gi}=0,"unknown gpu "&{gpu},IF({di}=0,"unknown dtype "&{dtype},'
        'IF({mth}=0,"unknown method "&{method}&"; use standard, serving or reference",'
        'IF(ROUND({a}/{tp},0)<>{a}/{tp},"tp="&{tp}&" does not divide the "&{a}&" attention heads of "&{model},'
        'IF({peak}<=0,"dtype "&{dtype}&" needs "&{compute}&" tensor cores, which "&{gpu}&" lacks",'
        'IF(AND({method}<>"serving",OR({E}>0,{rKV}>0,{hd}*{a}<>{h})),{model}&" has experts, latent attention '
        'or head_dim ≠ h/a, which method "&{method}&" cannot model; use method serving",'
        'IF({left}<=0,"weights need "&ROUND({Wt}/' + GIB + ',1)&" GiB per GPU but "&{gpu}&" has "&{mem}&" GiB; '
        'use a larger tp","ok"))))))))',
    ),
]

# --- per-scenario terms: b, s, n and the configuration row cfg --------------------------------


def _pass(prefix: str, tokens: str) -> list[Column]:
    """fwd(b, S) by component for S = tokens ('{s}' for prefill, '1' for decode) (`reference`, `standard`)."""
    S = tokens
    bsh = f"{{b}}*{S}*[h]"
    label = "prefill" if prefix == "pre" else "decode"
    return [
        Column(
            f"{prefix}_attn",
            f"{label.capitalize()} attention [s]",
            f"[Lp]*MAX((4*{bsh}*[h]+4*{bsh}*[h]*[k]/[a]+4*{bsh}*{S})/[tp]/[F_eff],"
            f"[P_attn]*[Bw]/[tp]/[M_eff]+MAX(3*[Ba]*{bsh}/[tp],(2*{bsh}+4*[a]*{{b}}*{S})*[Ba]/[tp])/[M_eff])",
        ),
        Column(
            f"{prefix}_mlp",
            f"{label.capitalize()} MLP [s]",
            f"[Lp]*MAX([mlpfac]*{bsh}*[f]/[tp]/[F_eff],[P_mlp]*[Bw]/[tp]/[M_eff]+MAX([Ba],[Ba]*[f]/[h])*{bsh}/[tp]/[M_eff])",
        ),
        Column(f"{prefix}_norm", f"{label.capitalize()} norms [s]", f"[Lp]*2*({bsh}*4/[tp]/[M_eff])"),
        Column(
            f"{prefix}_comm",
            f"{label.capitalize()} communication [s]",
            f"IF([tp]=1,0,[Lp]*2*MAX(2*{bsh}*([tp]-1)/[tp]*[Ba]/([nvl]*1E+9),[lam])"
            f"+MAX(2*{bsh}*([tp]-1)/[tp]*[Be]/([nvl]*1E+9),[lam]))",
        ),
        Column(f"{prefix}_emb", f"{label.capitalize()} embedding [s]", "[V]*[h]*[Be]/[M_eff]"),
        Column(f"{prefix}_logits", f"{label.capitalize()} logits [s]", f"2*{bsh}*[V]/[tp]/[pp]/[F_eff]"),
    ]


def _act(S: str) -> str:
    bsh = f"{{b}}*{S}*[h]"
    return (
        f"MAX(MAX(3*[Ba]*{bsh}/[tp],(2*{bsh}+4*[a]*{{b}}*{S})*[Ba]/[tp]),MAX([Ba],[Ba]*[f]/[h])*{bsh}/[tp],"
        f"{bsh}*2/[tp],[V]*{{b}}*{S}*[Ba]/[tp])"
    )


def _serving_pass(prefix: str) -> list[Column]:
    """One `serving` forward pass: prefill (b, s, c = 0) or decode (b, 1, c = s + (n - 1) / 2).

    Attention, MLP and communication per pass; the output head is the same for both passes
    (column s_head) and the fixed costs are configuration columns (o_pre, o_dec).
    """
    pre = prefix == "sp"
    label = "prefill" if pre else "decode"
    N = "{b}*{s}" if pre else "{b}"  # tokens in the pass
    c = "0" if pre else "({s}+({n}-1)/2)"  # tokens already in the cache
    new = "{s}" if pre else "1"  # new tokens per sequence
    x = f"({c}+({new}+1)/2)"  # mean context a query attends to
    cs = f"IF([rKV]>0,IF({new}=1,[csl]*{{b}},[cs]*{N}),[cs]*{N})"  # score FLOPs per token of context
    return [
        Column(
            f"{prefix}_attn",
            f"Serving {label}: attention [s]",
            f"[LF]*MAX((2*{N}*[PA]+{cs}*{x}/[rs])/[F_eff],([PA]*[Bw]+{{b}}*[kappa]*({c}+{new}))/[M_eff])"
            f"+[LWin]*MAX((2*{N}*[PA]+{cs}*MIN({x},[Wn])/[rs])/[F_eff],"
            f"([PA]*[Bw]+{{b}}*[kappa]*(MIN({c},[Wn])+{new}))/[M_eff])",
        ),
        Column(
            f"{prefix}_mlp",
            f"Serving {label}: MLP [s]",
            f"[Ld]*MAX(2*{N}*[PD]/[F_eff],[PD]*[Bw]/[M_eff])"
            # Er(N) = E (1 - q^N); q^N below e^-700 is 0 (the engine's floats underflow the same way)
            f"+[LM]*MAX(2*{N}*[Pmoe]/[F_eff],([E]*(1-IF({N}*[lnq]<-700,0,POWER([q],{N})))*[PE]+[PSR])*[Bw]/[M_eff])",
        ),
        Column(
            f"{prefix}_comm",
            f"Serving {label}: all-reduces and stage hand-offs [s]",
            f"[L]*2*([lam_t]+[c_ar]*{N})+([pp]-1)*([lam_s]+{N}*[h]*[Ba]/([nvl]*1E+9))",
        ),
    ]


def _family(columns: list[Column], family: str) -> list[Column]:
    return [Column(c.name, c.header, c.template, family) for c in columns]


def _choose(serving: str, roofline: str) -> str:
    return f"CHOOSE{{{serving}}}|{{{roofline}}}"


_ALL_SCENARIO_COLUMNS: list[Column] = [
    Column("cfg", "Configuration row", ""),
    Column("b", "Batch size b", ""),
    Column("s", "Prompt tokens s", ""),
    Column("n", "Completion tokens n", ""),
    *_family(
        [
            *_pass("pre", "{s}"),
            *_pass("dec", "1"),
            Column("kv", "KV cache per GPU [bytes]", "2*{b}*({s}+{n})*([h]/[a])*[kg]*[Bkv]*[Lp]"),
            Column("kv_s", "Decode KV-cache traffic [s]", "2*{kv}/[M_eff]"),
            Column("act_pre", "Prefill activations [bytes]", _act("{s}")),
            Column("act_dec", "Decode activations [bytes]", _act("1")),
        ],
        "roofline",
    ),
    *_family([*_serving_pass("sp"), *_serving_pass("sd")], "serving"),
    Column(
        "s_head",
        "Serving: output head, either pass [s]",
        "MAX(2*{b}*[V]*[h]/[tp]/[F_eff],[V]*[h]*[Be]/[tp]/[M_eff])",
        "serving",
    ),
    Column(
        "kv_used",
        "KV cache per GPU at prompt + completion [bytes]",
        _choose("[c_kv]*{b}*([LF]*({s}+{n})+[LWin]*MIN({s}+{n},[Wn]))", "{kv}"),
    ),
    Column(
        "need_pre",
        "Prompt needs: activations (serving: + its KV cache) [bytes]",
        _choose("MAX([c_act]*{b}*{s},[V]*{b}*[Ba]/[tp])+[c_kv]*{b}*([LF]*{s}+[LWin]*MIN({s},[Wn]))", "{act_pre}"),
    ),
    Column("dec_act", "Decode activations [bytes]", _choose("MAX([c_act]*{b},[V]*{b}*[Ba]/[tp])", "{act_dec}")),
    Column(
        "ttft",
        "Time to first token [s]",
        _choose("{sp_attn}+{sp_mlp}+{sp_comm}+{s_head}+[o_pre]", "SUM({pre_attn}:{pre_logits})"),
    ),
    Column(
        "tpot",
        "Time per output token [s]",
        _choose("{sd_attn}+{sd_mlp}+{sd_comm}+{s_head}+[o_dec]", "SUM({dec_attn}:{dec_logits})+{kv_s}"),
    ),
    Column("completion", "Time for completion [s]", _choose("({n}-1)*{tpot}", "{n}*{tpot}")),
    Column("tps", "Tokens/second", "{b}*{n}/({ttft}+{completion})"),
    Column(
        "usd_prompt", "Price/1k prompt tokens [USD]", 'IF([price]="","",1000*[price]*[tp]*[pp]/3600/({b}*{s}/{ttft}))'
    ),
    Column(
        "usd_completion",
        "Price/1k completion tokens [USD]",
        'IF([price]="","",1000*[price]*[tp]*[pp]/3600/({b}/{tpot}))',
    ),
    Column("max_batch", "Largest batch that fits", "ROUND([left]/(({kv_used}+{dec_act})/{b})-0.5,0)"),
    Column(
        "status",
        "Scenario status",
        'IF([status]<>"ok",[status],METHOD_CHECK'
        'IF(ROUND({b},0)<>{b},"batch_size must be a whole number ≥ 1, got "&{b},IF({b}<1,"batch_size must be a whole number ≥ 1, got "&{b},'
        'IF(ROUND({s},0)<>{s},"prompt_tokens must be a whole number ≥ 1, got "&{s},IF({s}<1,"prompt_tokens must be a whole number ≥ 1, got "&{s},'
        'IF(ROUND({n},0)<>{n},"completion_tokens must be a whole number ≥ 1, got "&{n},IF({n}<1,"completion_tokens must be a whole number ≥ 1, got "&{n},'
        'IF({s}>[ctx],"prompt_tokens "&{s}&" exceeds the context of "&[ctx]&" tokens",'
        'IF([left]<={need_pre},"prompt activations need "&'
        + _gib_apart("{need_pre}", "[left]", " GiB per GPU but ")
        + '&" GiB is left after weights; use a smaller batch_size or a larger tp",'
        'IF([left]<={kv_used}+{dec_act},"KV cache needs "&'
        + _gib_apart("{kv_used}", "[left]", " GiB per GPU but ")
        + '&" GiB is left after weights; use batch_size ≤ "&MAX({max_batch},0)&" or a larger tp",'
        '"ok"))))))))))METHOD_END',
    ),
]

_CHOICE = re.compile(r"^CHOOSE\{(.*)\}\|\{(.*)\}$")
METHODS_ALL = frozenset({"reference", "standard", "serving"})


@functools.cache
def scenario_columns(methods: frozenset[str] = METHODS_ALL) -> list[Column]:
    """The scenario table for the methods a workbook computes (one list object per set, for the caches).

    A workbook built for `serving` only (or for `reference` and `standard` only) leaves out the other
    family's columns; its status then refuses the other methods with a line that says so.
    """
    serving = "serving" in methods
    roofline = bool(methods & {"reference", "standard"})
    out = []
    for c in _ALL_SCENARIO_COLUMNS:
        if (c.family == "serving" and not serving) or (c.family == "roofline" and not roofline):
            continue
        template = c.template
        m = _CHOICE.match(template)
        if m:
            template = (
                f"IF([srv]=1,{m.group(1)},{m.group(2)})" if serving and roofline else m.group(1 if serving else 2)
            )
        if "METHOD_CHECK" in template:
            if methods >= METHODS_ALL:
                template = template.replace("METHOD_CHECK", "").replace("METHOD_END", "")
            else:
                names = sorted(methods)
                cond = "OR(" + ",".join(f'[method]="{name}"' for name in names) + ")"
                template = template.replace(
                    "METHOD_CHECK",
                    f'IF(NOT({cond}),"this workbook computes method {" or ".join(names)}; rebuild it with '
                    f'--method "&[method],',
                ).replace("METHOD_END", ")")
        out.append(Column(c.name, c.header, template, c.family))
    return out


SCENARIO_COLUMNS = scenario_columns()

_REF = re.compile(r"\{(\w+)\}|\[(\w+)\]")


def column_letters(columns: list[Column], first_col: int = 1) -> dict[str, str]:
    return {c.name: get_column_letter(first_col + i) for i, c in enumerate(columns)}


def _compile(columns: tuple[Column, ...]) -> list[str | None]:
    """Each column's template as a str.format pattern of the row number ``{r}`` (None for inputs).

    ``{name}`` becomes this row's cell of that column and ``[name]`` becomes
    ``INDEX(cfg_name, <this row's cfg cell>)``; templates hold no other braces.
    """
    own = column_letters(list(columns))
    cfg_ref = f"${own['cfg']}{{r}}" if "cfg" in own else ""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return f"{own[m.group(1)]}{{r}}"
        return f"INDEX(cfg_{m.group(2)},{cfg_ref})"

    return ["=" + _REF.sub(sub, c.template) if c.template else None for c in columns]


_compiled: dict[int, tuple[list[Column], list[str | None]]] = {}


def formulas_for_row(columns: list[Column], row: int, inputs: dict[str, object]) -> list[object]:
    """The cell contents of one table row: inputs as given, computed columns as formulas."""
    hit = _compiled.get(id(columns))
    if hit is None or hit[0] is not columns:
        hit = _compiled[id(columns)] = (columns, _compile(tuple(columns)))
    patterns = hit[1]
    return [
        Formula.of(pattern, r=row) if pattern is not None else inputs[c.name]
        for c, pattern in zip(columns, patterns, strict=True)
    ]
