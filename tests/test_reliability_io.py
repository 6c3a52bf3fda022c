"""Files, terminals and cells under hostile input (issue 19): the lock folder no one else controls, lock
files never followed or truncated, terminal-safe text, standard output, calibration readers, UDF zeros and
Excel's cell limit."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import unicodedata
from pathlib import Path

import pytest

import llmxl
from llmxl import InvalidInputError, LlmxlError
from llmxl.cli import main
from llmxl.cli.output import printable
from llmxl.outputs import OutputPathError, lock_folder, output_lock

REPORT = ("report", "--model", "llama-2-7b", "--gpu", "a100-sxm-80gb", "--prompt", "128", "--completion", "16")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tmpdir_locks(tmp_path, monkeypatch):
    """A temporary folder of this test's own as $TMPDIR, and the lock folder llmxl would use in it."""
    base = tmp_path / "tmp"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    return base / f"llmxl-locks-{os.getuid()}"


# --- the lock folder and lock files --------------------------------------------------------------------


class TestLockFolder:
    def test_created_private(self, tmpdir_locks):
        assert lock_folder() == tmpdir_locks
        assert stat.S_IMODE(os.lstat(tmpdir_locks).st_mode) == 0o700

    @pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o722])
    def test_writable_by_others_is_refused(self, tmpdir_locks, capsys, tmp_path, mode):
        tmpdir_locks.mkdir()
        os.chmod(tmpdir_locks, mode)
        with pytest.raises(OutputPathError, match=f"may be written by others \\(mode {mode:o}\\)"):
            lock_folder()
        code, _, err = run(capsys, *REPORT, "--csv", str(tmp_path / "r.csv"))
        assert code == 2 and "lock folder" in err and not (tmp_path / "r.csv").exists()

    def test_readable_by_others_is_fine(self, tmpdir_locks):
        tmpdir_locks.mkdir()
        os.chmod(tmpdir_locks, 0o755)
        assert lock_folder() == tmpdir_locks

    def test_someone_elses_is_refused(self, tmpdir_locks, monkeypatch):
        real = os.getuid()
        monkeypatch.setattr(os, "getuid", lambda: real + 1)  # the folder of "uid + 1" is ours, not theirs
        (tmpdir_locks.parent / f"llmxl-locks-{real + 1}").mkdir(mode=0o700)
        with pytest.raises(OutputPathError, match=f"belongs to another user \\(uid {real}\\)"):
            lock_folder()

    def test_a_link_or_a_file_is_refused(self, tmpdir_locks, tmp_path):
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        tmpdir_locks.symlink_to(elsewhere)
        with pytest.raises(OutputPathError, match="not a folder"):
            lock_folder()
        tmpdir_locks.unlink()
        tmpdir_locks.write_text("")
        with pytest.raises(OutputPathError, match="not a folder"):
            lock_folder()

    def test_a_planted_link_is_never_followed_nor_its_target_emptied(self, tmpdir_locks, capsys, tmp_path):
        notes = tmp_path / "notes.txt"
        notes.write_text("my notes\n")
        out = tmp_path / "out.csv"
        with output_lock([str(out)]):  # learn the lock file's name
            (lock,) = list(lock_folder().iterdir())
        lock.unlink()
        lock.symlink_to(notes)
        code, _, err = run(capsys, *REPORT, "--csv", str(out))
        assert code == 2 and "lock file" in err and notes.read_text() == "my notes\n"  # was: notes.txt emptied
        assert lock.is_symlink()

    def test_a_lock_file_is_never_truncated(self, tmpdir_locks, capsys, tmp_path):
        out = tmp_path / "out.csv"
        with output_lock([str(out)]):
            (lock,) = list(lock_folder().iterdir())
        lock.write_text("kept")
        assert run(capsys, *REPORT, "--csv", str(out))[0] == 0
        assert lock.read_text() == "kept"

    def test_no_lock_folder_without_an_output_file(self, tmpdir_locks, capsys):
        tmpdir_locks.mkdir()
        os.chmod(tmpdir_locks, 0o777)  # would be refused, but nothing is written to a file
        code, out, _ = run(capsys, *REPORT, "--json", "-")
        assert code == 0 and json.loads(out)[0]["model"] == "llama-2-7b"


# --- terminal-safe text -----------------------------------------------------------------------------------


def test_printable_escapes_every_control_format_surrogate_and_noncharacter():
    unsafe = [chr(c) for c in range(0x110000)
              if (unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs", "Zl", "Zp") and chr(c) not in "\t\n")
              or (c & 0xFFFE == 0xFFFE) or 0xFDD0 <= c <= 0xFDEF]  # fmt: skip
    text = "".join(unsafe)
    shown = printable(text)
    assert shown.isascii() and shown.count("\\") == len(unsafe)
    assert printable("llama-2-7b × h100 ≤ 5 €, Ünïcode\tok\n") == "llama-2-7b × h100 ≤ 5 €, Ünïcode\tok\n"
    shown.encode("ascii")


def test_bidi_and_c1_reach_no_terminal(capsys, tmp_path, monkeypatch):
    evil = "x\u202e\u009b[2J\u2066"
    cat = tmp_path / "cat.toml"
    cat.write_text(f'[[gpus]]\nid = "{evil}"\naliases = ["nice"]\nmemory_gib = 80\nhbm_bandwidth_gbs = 2000\n'
                   'fp16_tflops = 300\ninterconnect_gbs = 300\nsource = "a\\u202eb\\u009bc"\n'
                   '[[gpus]]\nid = "ok-gpu"\nmemory_gib = 80\nhbm_bandwidth_gbs = 2000\nfp16_tflops = 300\n'
                   'interconnect_gbs = 300\nsource = "a\\u202eb\\u009bc\\u2067"\n')  # fmt: skip
    monkeypatch.setenv(llmxl.catalog.ENV_VAR, str(cat))
    llmxl.catalog.reset()
    outputs = []
    for argv in (("catalog", "gpus"), ("estimate", "--model", "llama-2-7b", "--gpu", "nice", "--prompt", "8",
                 "--completion", "8"), ("plan", "--model", "llama-2-7b", "--gpu", "nice", "--prompt", "8",
                 "--completion", "8", "--rps", "1"), ("estimate", "--model", "llama\u202e\u009b", "--gpu", "ok-gpu",
                 "--prompt", "8", "--completion", "8"), (*REPORT[:3], "--gpu", "ok-gpu,nice", *REPORT[5:], "--csv",
                 str(tmp_path / "r\u202e\x1b.csv"))):  # fmt: skip
        _, out, err = run(capsys, *argv)
        outputs.append(out + err)
    for text in outputs:
        assert not any(c in text for c in "\u202e\u2066\u2067\u009b\x1b"), text
    assert "\\u202e" in "".join(outputs)


def test_a_non_utf8_byte_in_an_output_name(capsys, tmp_path):
    name = os.fsdecode(b"r\xff.csv")  # how Python hands over such a command-line argument
    code, out, err = run(
        capsys, *REPORT, "--csv", str(tmp_path / name), "--json", str(tmp_path / os.fsdecode(b"j\xfe.json"))
    )
    assert code == 0, err
    assert (tmp_path / name).exists() and "\\udcff" in out
    out.encode("utf-8")


# --- standard output ----------------------------------------------------------------------------------------


def test_dash_is_standard_output_not_a_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, *REPORT, "--json", "-")
    assert code == 0 and json.loads(out)[0]["status"] == "ok" and not (tmp_path / "-").exists()  # was: a file "-"
    code, out, err = run(capsys, *REPORT, "--csv", "-", "-o", "r.xlsx", "--no-progress")
    assert code == 0 and out.startswith('"model"') and "wrote r.xlsx" in err and not (tmp_path / "-").exists()
    code, _, err = run(capsys, *REPORT, "-o", "-")
    assert code == 2 and "workbook to the terminal" in err
    code, _, err = run(capsys, *REPORT, "--csv", "-", "--json", "-")
    assert code == 2 and "both name standard output" in err
    code, out, _ = run(capsys, "plan", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--prompt", "100",
                       "--completion", "10", "--rps", "1", "--csv", "-")  # fmt: skip
    assert code == 0 and out.startswith('"model"') and not (tmp_path / "-").exists()


def test_a_negative_zero_price_prints_as_zero(capsys):
    code, out, _ = run(capsys, "plan", "--model", "llama-3.1-8b", "--gpu", "h100-sxm-80gb", "--prompt", "100",
                       "--completion", "10", "--rps", "1", "--gpu-hour-usd", "-0.0")  # fmt: skip
    assert code == 0 and "$-0" not in out and "$0.00" in out


# --- calibration readers -------------------------------------------------------------------------------------

ROW = "model,gpu,prompt_tokens,completion_tokens,concurrency,ttft_s\nllama-3.1-8b,h100-sxm-80gb,1000,300,{c},0.05\n"
VLLM = {"completed": 10, "total_input_tokens": 10000, "total_output_tokens": 3000, "mean_ttft_ms": 50,
        "output_throughput": 500, "max_concurrency": 4}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "body", "said"),
    [("big.csv", "model,gpu\n" + "x" * 200_000 + ",y\n", "row 2: not readable as CSV (field larger"),
     ("dup.csv", "model,gpu,model\na,b,c\n", "column 'model' is given twice"),
     ("half.csv", ROW.format(c=0.5), "concurrency='0.5' must be a whole number"),  # was: rounded to 1
     ("digits.json", json.dumps(VLLM).replace('"completed": 10', '"completed": 1' + "0" * 400), "completed=1.000e+400"),
     ("more.json", json.dumps(VLLM).replace('"completed": 10', '"completed": 1' + "0" * 5000), "a number too long"),
     ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply")],
)  # fmt: skip
def test_measurement_files_that_are_not_what_they_claim(tmp_path, name, body, said):
    from llmxl.calibration import read_measurements

    path = tmp_path / name
    path.write_text(body)
    with pytest.raises(InvalidInputError) as info:
        read_measurements(path, model="llama-3.1-8b", gpu="h100-sxm-80gb")
    assert said in info.value.message and str(path) in info.value.message


def test_a_fifo_or_a_folder_is_not_a_missing_file(tmp_path):
    from llmxl.calibration import read_measurements

    fifo = tmp_path / "runs.csv"
    os.mkfifo(fifo)
    with pytest.raises(InvalidInputError, match="not a regular file"):  # was: "no such file"
        read_measurements(fifo)
    with pytest.raises(InvalidInputError, match="is a folder; give the measurement files in it"):
        read_measurements(tmp_path)
    with pytest.raises(InvalidInputError, match="no such file"):
        read_measurements(tmp_path / "nope.csv")


@pytest.mark.parametrize("given", [5, None, 2.5, b"runs.csv"])
def test_calibrate_of_something_that_is_not_runs(given):
    from llmxl.calibration import calibrate

    with pytest.raises(InvalidInputError, match="measurements must be a file path, or a list of runs"):
        calibrate(given)  # was: TypeError


def test_calibrate_of_one_run_given_as_a_dict():
    from llmxl.calibration import calibrate

    run = {"model": "llama-3.1-8b", "gpu": "h100-sxm-80gb", "prompt_tokens": 1000, "completion_tokens": 300,
           "batch_size": 1, "ttft_s": 0.05, "tpot_s": 0.008}  # fmt: skip
    cal = calibrate(run, cross_validate=False)  # was: its keys read as paths, "no such file"
    assert cal.gpu == "h100-sxm-80gb" and len(cal.points) == 2


def test_saving_into_a_catalog_that_is_not_utf8_is_refused_and_keeps_it(tmp_path):
    from llmxl.calibration import calibrate

    runs = []
    for s in (500, 1000, 4000):
        for b in (1, 16):  # what the defaults say, a tenth slower: a fit well inside its bounds
            e = llmxl.estimate("llama-3.1-8b", "h100-sxm-80gb", batch_size=b, prompt_tokens=s, completion_tokens=300)
            runs.append({"model": "llama-3.1-8b", "gpu": "h100-sxm-80gb", "prompt_tokens": s, "completion_tokens": 300,
                         "batch_size": b, "ttft_s": 1.1 * e.ttft_s, "tpot_s": 1.1 * e.tpot_s})  # fmt: skip
    cal = calibrate(runs, constants=["hbm_efficiency", "flops_efficiency"], cross_validate=False)
    target = tmp_path / "catalog.toml"
    target.write_bytes(b'# caf\xe9\n[[gpus]]\nid = "x"\n')
    with pytest.raises(InvalidInputError, match="not UTF-8") as info:  # was: UnicodeDecodeError
        cal.save("mine", target)
    assert "not saved" in info.value.message and target.read_bytes().startswith(b"# caf\xe9")


# --- Excel cells: zeros are errors, texts within the cell limit --------------------------------------------


@pytest.fixture(scope="module")
def funcs():
    from .xlwings_harness import functions, windows_xlwings

    with windows_xlwings() as (module, _):
        yield functions(module)


def _cell(funcs, name, *args):
    from .xlwings_harness import call_as_excel

    return call_as_excel(funcs[name], *args)


def _missing():
    from .xlwings_harness import MISSING

    return MISSING


@pytest.mark.parametrize(
    ("name", "zero_at", "field"),
    [("LLM_OPERATING_POINT", 5, "tp"), ("LLM_OPERATING_POINT", 7, "pp"), ("LLM_OPERATING_POINT", 2, "concurrency"),
     ("LLM_BREAKEVEN", 4, "peak_factor"), ("LLM_BREAKEVEN", 10, "tp"), ("LLM_BREAKEVEN", 8, "ttft_s_max"),
     ("LLM_GPUS_NEEDED", 9, "tp"), ("LLM_GPUS_NEEDED", 12, "max_concurrency"), ("LLM_GPUS_NEEDED", 3, "peak_requests_per_s"),
     ("LLM_MONTHLY_COST", 2, "requests_per_s"), ("LLM_COST_PER_1M", 8, "ttft_s_max"), ("LLM_PLAN", 9, "tp"),
     ("LLM_TTFT", 5, "tp"), ("LLM_TTFT", 11, "pp"), ("LLM_TTFT", 7, "flops_efficiency"), ("LLM_ESTIMATE", 2, "batch_size"),
     ("LLM_OWNED_GPU_HOUR", 1, "years"), ("LLM_OWNED_GPU_HOUR", 3, "pue")],
)  # fmt: skip
def test_a_zero_where_zero_is_invalid_is_an_error_naming_it(funcs, name, zero_at, field):
    args = {
        "LLM_OPERATING_POINT": ["llama-3.1-8b", "h100-sxm-80gb", 8.0, 1000.0, 300.0, 1.0, "bf16", 1.0],
        "LLM_BREAKEVEN": ["llama-3.1-8b", "h100-sxm-80gb", 1000.0, 300.0, 2.0, 0.88, 0.88, 3.99, 1.0, 1.0, 1.0, "bf16"],
        "LLM_GPUS_NEEDED": [
            "llama-3.1-8b",
            "h100-sxm-80gb",
            5.0,
            10.0,
            1000.0,
            300.0,
            3.99,
            1.0,
            1.0,
            1.0,
            "bf16",
            0.0,
            64.0,
        ],
        "LLM_MONTHLY_COST": ["llama-3.1-8b", "h100-sxm-80gb", 5.0, 10.0, 1000.0, 300.0],
        "LLM_COST_PER_1M": ["llama-3.1-8b", "h100-sxm-80gb", 5.0, 10.0, 1000.0, 300.0, "blended", 3.99, 1.0, 1.0],
        "LLM_PLAN": ["llama-3.1-8b", "h100-sxm-80gb", 5.0, 10.0, 1000.0, 300.0, 3.99, 1.0, 1.0, 1.0],
        "LLM_TTFT": ["llama-2-7b", "a100-sxm-80gb", 1.0, 128.0, 16.0, 1.0, 2.0, 0.7, 0.9, "bf16", "serving", 1.0],
        "LLM_ESTIMATE": ["llama-2-7b", "a100-sxm-80gb", 1.0, 128.0, 16.0],
        "LLM_OWNED_GPU_HOUR": [30000.0, 5.0, 1.0, 1.3, 0.08, 4500.0],
    }[name]
    args[zero_at] = 0.0
    out = _cell(funcs, name, *args)
    text = out if isinstance(out, str) else out[0][0]
    assert isinstance(text, str) and text.startswith("#") and field in text, out  # was: tp=0 computed tp=1


def test_denormal_traffic_in_a_cell_is_an_error_naming_it(funcs):
    out = _cell(funcs, "LLM_GPUS_NEEDED", "llama-3.1-8b", "h100-sxm-80gb", 5e-324, _missing(), 1000.0, 300.0)
    assert out.startswith("#VALUE! requests_per_s must be from 1e-09 to 1e+09")  # was: ZeroDivisionError
    out = _cell(funcs, "LLM_MONTHLY_COST", "llama-3.1-8b", "h100-sxm-80gb", 5.0, 1e308, 1000.0, 300.0)
    assert out.startswith("#VALUE! peak_requests_per_s must be from")  # was: a monthly cost of inf


def test_error_texts_fit_in_a_cell(funcs, tmp_path):
    out = _cell(funcs, "LLM_OPERATING_POINT", "llama-3.1-8b", "h100-sxm-80gb", [[1.0]] * 20000, 1000.0, 300.0)
    assert out.startswith("#VALUE! concurrency must be a single cell, got a range of 20,000 cells")
    assert len(out) < 200  # was: 100,042 characters
    cat = tmp_path / "cat.toml"
    cat.write_text('[[gpus]]\nid = "wordy"\nmemory_gib = 80\nhbm_bandwidth_gbs = 2000\nfp16_tflops = 300\n'
                   f'interconnect_gbs = 300\nsource = "{"w" * 40_000}"\n')  # fmt: skip
    llmxl.add_catalog_file(cat)
    source = _cell(funcs, "LLM_GPU_INFO", "wordy", "source")
    assert len(source) == 32_767 and source.endswith("…")
    err = LlmxlError("x" * 50_000)
    assert len(err.excel_text()) == 32_767


def test_a_user_catalog_entry_with_a_bad_layout_leaves_every_function_working(funcs, tmp_path, monkeypatch):
    cat = tmp_path / "cat.toml"
    cat.write_text('[[models]]\nid = "bad"\nmodel_type = "qwen2_moe"\nnum_hidden_layers = 4\nhidden_size = 64\n'
                   "num_attention_heads = 4\nintermediate_size = 128\nvocab_size = 100\nmax_position_embeddings = 512\n"
                   "num_experts = 4\n"
                   "num_experts_per_tok = 2\ndecoder_sparse_step = 0.5\n")  # fmt: skip
    monkeypatch.setenv(llmxl.catalog.ENV_VAR, str(cat))
    llmxl.catalog.reset()
    models = _cell(funcs, "LLM_MODELS")
    assert ["llama-2-7b"] in models and ["bad"] not in models
    cell = _cell(funcs, "LLM_MODEL_INFO", "bad", "num_hidden_layers")
    assert cell.startswith("#VALUE!") and "decoder_sparse_step" in cell
    assert Path(cat).read_text().count("bad") == 1
