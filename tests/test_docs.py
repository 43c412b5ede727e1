"""The README tells the truth: its commands exist, CI runs its test command, its configuration
table is the settings table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from brandmood.cli import app
from brandmood.cli.core import README_BEGIN, README_END, with_settings_table
from brandmood.core.settings import NAME, SETTINGS, settings_markdown

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PRODUCT = ("analytics", "ingest", "db", "brandmood", "pages")


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


def test_readme_configuration_table_is_generated_from_the_settings_table() -> None:
    """Adding a setting without regenerating the README (`brandmood config docs --write
    README.md`) fails here."""
    block = README[README.index(README_BEGIN):README.index(README_END)]
    assert block.split("\n", 1)[1] == settings_markdown()
    assert with_settings_table(README) == README
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_<>]+)` \|", block, re.M)
    assert rows == [s.env for s in SETTINGS]


def _product_files() -> list[Path]:
    return [p for package in PRODUCT for p in (REPO / package).rglob("*.py")]


def test_every_brandmood_variable_the_code_names_is_in_the_settings_table() -> None:
    """A variable named anywhere in the product is a setting (or one of a pattern's names)."""
    exact = {s.env for s in SETTINGS if not s.patterned}
    prefixes = tuple(s.env.removesuffix(NAME) for s in SETTINGS if s.patterned)
    named = {v for path in _product_files()
             for v in re.findall(r'"(BRANDMOOD_[A-Z0-9_]+)', path.read_text())}
    assert named, "the scan found no variable at all"
    assert {v for v in named if v not in exact and not v.startswith(prefixes)} == set()


def test_only_the_settings_module_reads_the_environment() -> None:
    """Every reader goes through brandmood.core.settings; the others below only write it
    (the OpenMP wait policy) or hand it to a child process."""
    readers = {str(p.relative_to(REPO)) for p in _product_files()
               if re.search(r"os\.environ|getenv\(", p.read_text())}
    assert readers == {"brandmood/core/settings.py", "brandmood/core/runtime.py",
                       "brandmood/cli/core.py"}
