"""The cost–interactivity frontier (llmxl/frontier.py): the plan's arithmetic swept over concurrency.

Expected figures: docs/methodology.md, "The cost–interactivity frontier", whose B = 16 figures follow by hand
from the worked check (load) at mean decode concurrency 16 (λ 2.76008, φ 0.136207, mean ITL 0.0193877 s).
"""

from __future__ import annotations

import csv
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llmxl
from llmxl import InvalidInputError, frontier, plan
from llmxl.frontier import concurrency_grid

from .test_energy import H100_POWERED, KWH_PER_1M
from .test_plan import CHECK, SHAPE, TARGET
from .xlwings_harness import MISSING, call_as_excel, windows_xlwings


def close(x: float, expected: float) -> bool:
    return x == pytest.approx(expected, rel=1e-6)


class TestWorkedCheck:
    def test_at_16(self):
        (p,) = frontier("llama-3.1-70b", H100_POWERED, **CHECK, concurrency=16, gpu_hour_usd=3.99).points
        assert close(p.output_tokens_per_s_per_user, 51.57898) and close(p.output_tokens_per_s_per_gpu, 414.0119)
        assert close(p.usd_per_1m_prompt_tokens, 0.1093902) and close(p.usd_per_1m_completion_tokens, 2.312423)
        assert close(p.usd_per_1m_blended, 0.6601483) and close(p.kwh_per_1m_tokens, 0.2495283)

    def test_the_plans_row_lies_on_its_configurations_curve(self):
        best = plan("llama-3.1-70b", H100_POWERED, **CHECK, **TARGET).best
        f = frontier("llama-3.1-70b", H100_POWERED, **CHECK, concurrency=range(1, 289), gpu_hour_usd=3.99)
        curve = f.curve(best.gpu, best.tp, best.dtype)
        assert [q.concurrency for q in curve] == list(range(1, 289))  # up to the capacity, 288
        at = curve[best.concurrency - 1]
        share = TARGET["requests_per_s"] / (best.replicas * best.requests_per_s)
        assert close(share, 0.2702262)
        assert close(at.output_tokens_per_s_per_user, 44.61615) and close(at.usd_per_1m_blended, 0.3901518)
        assert close(at.usd_per_1m_blended, best.usd_per_1m_blended * 0.2702262)
        assert close(at.kwh_per_1m_tokens, KWH_PER_1M * 0.2702262)
        # the plan's B* is the fastest point of the curve up to which every point meets both targets
        meets = [q.ttft_s <= 0.5 and q.itl_s <= 0.05 for q in curve]
        assert meets.index(False) == best.concurrency


settings_ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings_
@given(
    model=st.sampled_from(["llama-3.1-8b", "mixtral-8x7b", "qwen3-30b-a3b"]),
    gpu=st.sampled_from(["h100-sxm-80gb", "h200-sxm-141gb", "l40s", "b200"]),
    s=st.integers(16, 4000),
    n=st.integers(2, 1000),
    rps=st.floats(0.05, 40),
    itl=st.floats(0.01, 0.3),
)
def test_every_plan_row_lies_on_its_frontier_curve(model, gpu, s, n, rps, itl):
    p = plan(model, gpu, prompt_tokens=s, completion_tokens=n, requests_per_s=rps, itl_s_max=itl, gpu_hour_usd=3.0)
    for row in p.rows:
        if row.reason is not None or row.dp > 1:  # the frontier lays replicas out by tp and pp alone
            continue
        (q,) = frontier(model, gpu, prompt_tokens=s, completion_tokens=n, tp=row.tp, dtype=row.dtype,
                        concurrency=row.concurrency, gpu_hour_usd=3.0).points  # fmt: skip
        assert q.itl_s == pytest.approx(row.itl_s, rel=1e-12) and q.ttft_s == pytest.approx(row.ttft_s, rel=1e-12)
        u = rps / (row.replicas * row.requests_per_s)  # the average's share of the fleet's design load
        for name in ("usd_per_1m_prompt_tokens", "usd_per_1m_completion_tokens", "usd_per_1m_blended",
                     "kwh_per_1m_tokens", "kg_co2e_per_1m_tokens"):  # fmt: skip
            assert getattr(q, name) == pytest.approx(getattr(row, name) * u, rel=1e-9), name


class TestPareto:
    def test_the_flag_is_the_non_dominated_set(self):
        f = frontier("llama-3.1-70b", ["h100-sxm-80gb", "b200"], dtype=["fp8", "bf16"], **SHAPE)
        pts = f.points
        assert len(pts) > 50 and f.unserved  # tp=1 bf16 does not fit on an H100

        def dominated(p):
            return any(
                q.output_tokens_per_s_per_user >= p.output_tokens_per_s_per_user
                and q.usd_per_1m_blended < p.usd_per_1m_blended
                for q in pts
            )

        for p in pts:
            assert p.pareto == (not dominated(p)), (p.gpu, p.tp, p.dtype, p.concurrency)
        front = f.pareto
        assert [p.output_tokens_per_s_per_user for p in front] == sorted(
            (p.output_tokens_per_s_per_user for p in front), reverse=True
        )
        costs = [p.usd_per_1m_blended for p in front]
        assert costs == sorted(costs, reverse=True)  # faster per user always costs more on the frontier


class TestGridAndInputs:
    def test_default_concurrencies_end_at_the_capacity(self):
        f = frontier("llama-3.1-8b", "h100-sxm-80gb", tp=1, **SHAPE)
        top = capacity("llama-3.1-8b", "h100-sxm-80gb")
        assert [p.concurrency for p in f.points] == concurrency_grid(top)
        capped = frontier("llama-3.1-8b", "h100-sxm-80gb", tp=1, **SHAPE, max_concurrency=20)
        # a cap of 20 sequences holds a mean of 11 (11 + 2.326 √11 = 18.7 ≤ 20 < 12 + 2.326 √12 = 20.06)
        assert [p.concurrency for p in capped.points] == [1, 2, 3, 4, 6, 8, 11]

    def test_prices_by_gpu(self):
        f = frontier("llama-3.1-8b", ["h100-sxm-80gb", "l40s"], tp=1, **SHAPE, concurrency=[8],
                     gpu_hour_usd={"l40s": 1.0})  # fmt: skip
        assert {p.gpu: p.usd_per_gpu_hour for p in f.points} == {"h100-sxm-80gb": 3.99, "l40s": 1.0}

    @pytest.mark.parametrize(
        ("kw", "field"),
        [({"completion_tokens": 1}, "completion_tokens"), ({"concurrency": 0}, "concurrency"),
         ({"concurrency": []}, "concurrency"), ({"gpu_hour_usd": {"b200": 2}}, "gpu_hour_usd")],
    )  # fmt: skip
    def test_bad_input_names_the_field(self, kw, field):
        with pytest.raises(InvalidInputError) as info:
            frontier("llama-3.1-8b", "h100-sxm-80gb", **{**SHAPE, **kw})
        assert info.value.field == field and "\n" not in str(info.value)

    def test_a_concurrency_above_what_fits_says_so(self):
        f = frontier("llama-3.1-70b", "h100-sxm-80gb", tp=2, dtype="fp8", **SHAPE, concurrency=[100000])
        assert not f.points and "exceeds the" in f.unserved[0]


def capacity(model, gpu):
    return llmxl.operating_point(model, gpu, 1, **SHAPE).capacity_concurrency


class TestFaces:
    BASE = ["plan", "--frontier", "--model", "llama-3.1-70b", "--gpu", "h100-sxm-80gb,b200", "--dtype", "fp8",
            "--prompt", "1000", "--completion", "300"]  # fmt: skip

    def test_cli_table_csv_and_json(self, capsys, tmp_path):
        from llmxl.cli import main

        path = tmp_path / "f.csv"
        assert main([*self.BASE, "--csv", str(path)]) == 0
        out = capsys.readouterr().out
        lib = frontier("llama-3.1-70b", ["h100-sxm-80gb", "b200"], dtype="fp8", **SHAPE)
        configs = len({(q.gpu, q.tp, q.dtype) for q in lib.points})
        assert f"{len(lib.pareto)} of {len(lib.points)} points over {configs} configurations are on the frontier" in out
        assert "one replica under vllm 0.11.0" in out and "TTFT p90 s" in out
        fastest = lib.pareto[0]
        row = next(line for line in out.splitlines() if line.startswith(f"  {fastest.gpu} "))
        assert f"{fastest.output_tokens_per_s_per_user:,.1f}" in row and f"${fastest.usd_per_1m_blended:,.3f}" in row
        rows = list(csv.DictReader(path.open()))
        assert len(rows) == len(lib.points) and float(rows[0]["usd_per_gpu_hour"]) == lib.points[0].usd_per_gpu_hour
        assert main([*self.BASE, "--json", "-"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["points"] == json.loads(json.dumps(lib.to_rows()))

    @pytest.mark.parametrize("extra", [["--rps", "5"], ["--itl", "0.05"], ["--api", "together"]])
    def test_cli_refuses_a_plans_options(self, capsys, extra):
        from llmxl.cli import main

        assert main([*self.BASE, *extra]) == 2
        err = capsys.readouterr().err
        assert (
            f"--frontier takes the request shape, GPUs, tp, dtype, engine, percentile, prices and energy inputs, not {extra[0]}"
            in err
        )

    def test_cli_exits_1_when_nothing_can_serve(self, capsys):
        from llmxl.cli import main

        argv = ["plan", "--frontier", "--model", "llama-3.1-405b", "--gpu", "l4", "--tp", "1", "--prompt", "100",
                "--completion", "10"]  # fmt: skip
        assert main(argv) == 1
        assert "No configuration can serve this request shape" in capsys.readouterr().out

    def test_excel_spills_every_point_or_the_frontier(self):
        lib = frontier("llama-3.1-70b", ["h100-sxm-80gb", "b200"], dtype="fp8", **SHAPE)
        with windows_xlwings() as (xl, _):
            every = call_as_excel(xl.LLM_FRONTIER, "llama-3.1-70b", "h100-sxm-80gb, b200", 1000.0, 300.0, MISSING,
                                  "fp8")  # fmt: skip
            front = call_as_excel(xl.LLM_FRONTIER, "llama-3.1-70b", (("h100-sxm-80gb",), ("b200",)), 1000.0, 300.0,
                                  MISSING, "fp8", MISSING, MISSING, MISSING, True)  # fmt: skip
            bad = call_as_excel(xl.LLM_FRONTIER, "llama-3.1-70b", "h100-sxm-80gb", 1000.0, 1.0)
        assert every[0][4] == "Output tokens/s per user" and every[0][-1] == "On the frontier"
        assert len(every) == 1 + len(lib.points) and len(front) == 1 + len(lib.pareto)
        assert [r[4] for r in every[1:]] == [p.output_tokens_per_s_per_user for p in lib.points]
        assert [r[9] for r in front[1:]] == [p.usd_per_1m_blended for p in lib.pareto]
        assert bad.startswith("#VALUE! completion_tokens must be ≥ 2 for a frontier")
