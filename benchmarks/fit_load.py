"""Fit κP and κD, the load model's prefill and decode scales (llmxl/data/methods.toml [serving.prefill_scale],
[serving.decode_scale]), and cross-validate them.

    python benchmarks/fit_load.py            # print the fit and its leave-one-model-out error
    python benchmarks/fit_load.py --write    # also store it in llmxl/data/methods.toml
    python benchmarks/fit_load.py --amd      # propose an AMD Instinct factor from InferenceX's runs (not stored)

What is fitted and how: benchmarks/loadfit.py; the AMD proposal, benchmarks/inferencex.py (``amd_factors``).
Each of κP and κD is fitted with the other at the catalog's value (κP to TTFT, κD to TPOT; each moves the
other's figure little), and the stored κP stays unless another point fits better by more than loadfit.KEEP.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import inferencex  # noqa: E402
import numpy as np  # noqa: E402
from loadfit import cross_validate, cross_validate_decode, load  # noqa: E402

METHODS = ROOT / "llmxl" / "data" / "methods.toml"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="store the fit in llmxl/data/methods.toml")
    p.add_argument(
        "--amd", action="store_true", help="print the AMD Instinct proposal (InferenceX's runs); stores nothing"
    )
    args = p.parse_args()
    if args.amd:
        if args.write:
            p.error("--amd proposes and stores nothing; give it without --write")
        print("\n".join(inferencex.amd_lines(inferencex.load())))
        return 0
    rows = load()
    measured = np.array([float(r["ttft_s"]) for r in rows])
    cv = cross_validate(rows)
    best, ok = cv["best"], cv["ok"]
    sel = ok & np.isfinite(cv["ttft"])
    err_in = np.abs(cv["fitted"][sel] / measured[sel] - 1)
    err_cv = np.abs(cv["ttft"][sel] / measured[sel] - 1)
    print(f"fit: Hopper dense {best[0]}, Blackwell dense {best[1]}, MoE x{best[2]} ({sel.sum()} points)")
    e_in, e_cv = 100 * np.median(err_in), 100 * np.median(err_cv)
    print(f"median |error| of TTFT: in-sample {e_in:.0f} %, leave-one-model-out {e_cv:.0f} %")
    for m, pick in cv["folds"].items():
        print(f"  without {m}: Hopper {pick[0]}, Blackwell {pick[1]}, MoE x{pick[2]}")
    tpot = np.array([float(r["tpot_s"]) for r in rows])
    dv = cross_validate_decode(rows)
    dsel = dv["ok"] & np.isfinite(dv["itl"])
    d_in = 100 * np.median(np.abs(dv["fitted"][dsel] / tpot[dsel] - 1))
    d_cv = 100 * np.median(np.abs(dv["itl"][dsel] / tpot[dsel] - 1))
    for kind, (bw, ov) in dv["best"].items():
        print(f"kappaD {kind}: bandwidth x{bw}, overhead x{ov}")
    print(f"median |error| of TPOT: in-sample {d_in:.0f} %, leave-one-model-out {d_cv:.0f} % ({dsel.sum()} points)")
    for m, pick in dv["folds"].items():
        print(f"  without {m}: bandwidth x{pick[0]}, overhead x{pick[1]}")
    if args.write:
        text = METHODS.read_text(encoding="utf-8")
        start = text.index("[serving.decode_scale]")
        block = text[start:]
        new = block
        for kind, (bw, ov) in dv["best"].items():
            new = re.sub(rf"(?m)^{kind} = .*$", f"{kind} = {{ bandwidth = {bw}, overhead = {ov} }}", new, count=1)
        source = (
            f"fitted by benchmarks/fit_load.py to the mean TPOT of {dsel.sum()} closed-loop runs of "
            "aiconfigurator-core 0.12.0's silicon sample (benchmarks/data/aic-silicon.csv; TensorRT-LLM, vLLM, "
            "SGLang on H100, H200, B200, B300, GB200), dense and MoE models apart, minimising median |log error|; "
            f"leave-one-model-out median error {d_cv:.0f} %"
        )
        new = re.sub(r'(?m)^source = ".*"$', f'source = "{source}"', new, count=1)
        METHODS.write_text(text.replace(block, new), encoding="utf-8")
        text = METHODS.read_text(encoding="utf-8")
        start = text.index("[serving.prefill_scale]")
        block = text[start : text.index("[serving.decode_scale]")]
        new = block
        new = re.sub(r"(?m)^moe = .*$", f"moe = {best[2]}", new, count=1)
        new = re.sub(r'(name = "Hopper", gpus = \[[^\]]*\], dense = )[0-9.]+', rf"\g<1>{best[0]}", new)
        new = re.sub(r'(name = "Blackwell", gpus = \[[^\]]*\], dense = )[0-9.]+', rf"\g<1>{best[1]}", new)
        source = (
            f"fitted by benchmarks/fit_load.py to the mean TTFT of {sel.sum()} closed-loop runs of aiconfigurator-core "
            "0.12.0's silicon sample (benchmarks/data/aic-silicon.csv; TensorRT-LLM, vLLM, SGLang on H100, H200, B200, "
            f"B300, GB200), minimising median |log error|; leave-one-model-out median error {e_cv:.0f} %"
        )
        new = re.sub(r'(?m)^source = ".*"$', f'source = "{source}"', new, count=1)
        METHODS.write_text(text.replace(block, new), encoding="utf-8")
        print(f"wrote {METHODS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
