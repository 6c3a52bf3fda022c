"""docs/architecture.md's layers hold in the code: no import goes up, across groups, or in a circle."""

from __future__ import annotations

from pathlib import Path

from .conftest import ROOT
from .layering import check, cycles, read_map

ROOTS = {ROOT / "llmxl": "llmxl", ROOT / "udfs" / "llmxl_udfs": "llmxl_udfs", ROOT / "benchmarks": "benchmarks",
         ROOT / "tests": "tests"}  # fmt: skip
#: The most lines a module of code may have: past it, a reader can no longer hold it in mind.
MAX_MODULE_LINES = 800


def _sources() -> list[Path]:
    files = [*(ROOT / "llmxl").rglob("*.py"), *(ROOT / "udfs" / "llmxl_udfs").rglob("*.py")]
    files += (ROOT / "benchmarks").glob("*.py")
    files.append(ROOT / "tests" / "xlwings_harness.py")  # the benchmarks time the Excel functions through it
    return sorted(f for f in files if "__pycache__" not in f.parts)


def _table():
    return read_map((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))


def test_every_import_follows_the_layers_of_docs_architecture():
    problems, graph = check(_sources(), ROOTS, _table())
    assert not problems, "\n".join(problems)
    assert "llmxl.estimate" in graph["llmxl_udfs.scenario"] or "llmxl" in graph["llmxl_udfs.scenario"]
    assert {"llmxl.resolve", "llmxl.checks", "llmxl.result"} <= graph["llmxl.estimate"]  # the reader saw them


def test_no_module_is_past_the_size_a_reader_can_hold():
    long = {str(f.relative_to(ROOT)): n for f in _sources() if (n := len(f.read_text(encoding="utf-8").splitlines()))
            > MAX_MODULE_LINES}  # fmt: skip
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}; split them by concern"


class TestTheCheckerItself:
    """The checker must fail on what it is there to catch: a planted tree of three layers."""

    MAP = """
| layer | group | modules | what |
|---|---|---|---|
| 0 base | base | `pkg.low` | bottom |
| 1 middle | middle | `pkg.mid`, `pkg.sub`, `pkg.sub.*` | |
| 1 middle | other | `pkg.side` | |
| 2 top | top | `pkg`, `pkg.top` | |
| 3 scripts | scripts (independent) | `tools.a`, `tools.b` | |
"""

    def _tree(self, tmp_path: Path, files: dict[str, str]) -> tuple[list[Path], dict[Path, str]]:
        base = {"pkg/__init__.py": "", "pkg/low.py": "", "pkg/mid.py": "from . import low\n",
                "pkg/side.py": "", "pkg/top.py": "from .mid import x\n", "pkg/sub/__init__.py": "",
                "pkg/sub/deep.py": "from ..low import y\n", "tools/a.py": "import pkg\n",
                "tools/b.py": "from pkg import top\n"}  # fmt: skip
        base.update(files)
        paths = []
        for name, text in base.items():
            p = tmp_path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
            paths.append(p)
        return paths, {tmp_path / "pkg": "pkg", tmp_path / "tools": "tools"}

    def _problems(self, tmp_path, files):
        paths, roots = self._tree(tmp_path, files)
        return check(paths, roots, read_map(self.MAP))[0]

    def test_a_clean_tree_passes(self, tmp_path):
        assert self._problems(tmp_path, {}) == []

    def test_an_import_up_a_layer_fails(self, tmp_path):
        problems = self._problems(tmp_path, {"pkg/low.py": "def f():\n    from .mid import x\n"})
        assert any("pkg.low" in p and "may not import layer 1" in p for p in problems), problems

    def test_an_import_of_the_package_front_door_from_below_fails(self, tmp_path):
        problems = self._problems(tmp_path, {"pkg/mid.py": "import pkg\n"})
        assert any("pkg.mid" in p and "imports pkg:" in p for p in problems), problems

    def test_an_import_across_groups_of_one_layer_fails(self, tmp_path):
        problems = self._problems(tmp_path, {"pkg/side.py": "from pkg.sub import deep\n"})
        assert any("groups other and middle" in p for p in problems), problems

    def test_a_script_importing_a_script_fails(self, tmp_path):
        problems = self._problems(tmp_path, {"tools/b.py": "import a\n"})
        assert any("do not import each other" in p for p in problems), problems

    def test_a_cycle_within_a_group_fails(self, tmp_path):
        problems = self._problems(tmp_path, {"pkg/low.py": "", "pkg/mid.py": "from .sub import deep\n",
                                             "pkg/sub/deep.py": "from .. import mid\n"})  # fmt: skip
        assert any(p.startswith("import cycle: pkg.mid -> pkg.sub.deep") for p in problems), problems

    def test_a_module_the_map_does_not_place_fails(self, tmp_path):
        problems = self._problems(tmp_path, {"pkg/stray.py": ""})
        assert any("pkg.stray" in p and "not in the layer table" in p for p in problems), problems

    def test_imports_for_type_checking_only_do_not_count(self, tmp_path):
        text = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .mid import x\n"
        assert self._problems(tmp_path, {"pkg/low.py": text}) == []

    def test_cycles_are_found_by_tarjan(self):
        assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
        assert cycles({"a": {"b"}, "b": set()}) == []
