"""The README's promises: its test command is what CI runs, its examples print what it shows."""

from __future__ import annotations

import doctest
import re

from .conftest import ROOT


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.S)


def test_quick_start_is_two_commands_and_ci_runs_the_test_command():
    commands = _quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert commands[0].startswith("pip install . && llmxl ")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()


def test_readme_python_examples_run_as_shown():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(>>> .+?)```", text, flags=re.S)
    assert blocks
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    test = parser.get_doctest("\n".join(blocks), {}, "README", "README.md", 0)
    runner.run(test)
    assert runner.failures == 0 and runner.tries >= 4


def test_readme_cli_example_prints_what_it_shows(capsys):
    import shlex

    from llmxl.cli import main

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```console\n\$ (llmxl .+?)\n(.+?)```", text, flags=re.S)
    assert block
    assert main(shlex.split(block.group(1))[1:]) == 0
    assert capsys.readouterr().out == block.group(2)
