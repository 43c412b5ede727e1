"""The README tells the truth: its commands exist, CI runs its test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brandmood.cli import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_readme_names_the_two_setup_commands() -> None:
    assert "make run" in README and "make test" in README
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_ci_runs_the_readme_test_command_and_nothing_else() -> None:
    lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    commands = [ln for ln in lines if not ln.startswith(("set ", "cd "))]
    assert commands == ["make test"]


def _readme_commands() -> list[str]:
    listed = re.search(r"Commands: (.*?)\(see", README, re.S).group(1)
    return [c.strip("` ,") for c in re.findall(r"`[^`]+`", listed)]


@pytest.mark.parametrize("command", _readme_commands())
def test_every_command_in_the_readme_exists(command: str) -> None:
    args = command.replace("…", "").split()
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"`brandmood {command} --help` failed: {result.output}"


def test_configuration_table_lists_every_variable_the_code_reads() -> None:
    documented = {v.replace("<NAME>", "") for v in
                  re.findall(r"^\| `(BRANDMOOD_[A-Z_<>]+)`", README, re.M)}
    used = set()
    for package in ("analytics", "ingest", "db", "brandmood", "pages"):
        for path in (REPO / package).rglob("*.py"):
            used |= set(re.findall(r'"(BRANDMOOD_[A-Z_]+)', path.read_text()))
    assert documented == used
