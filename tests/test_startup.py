"""Start-up (issue 15: ``ce --help`` ≤ 1.6× ``import click``): what ``ce --help`` and
``ce COMMAND --help`` import, and the lazy commands (``CEGroup.add_lazy_command``) that keep
``ce check`` and ``ce label-issues`` out of ``ce --help`` without changing a byte of it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import click
import pytest
from click.shell_completion import ShellComplete

from ce_cli.cli.main import CEGroup, LazyCommands, cli
from tests.conftest import ROOT

LAZY = ("check", "label-issues")
DEFERRED = (
    # ce check and ce label-issues (and check's flag table): imported when they run
    "ce_cli.cli.check",
    "ce_cli.cli.label_issues",
    "ce_cli.report.check_flags",
    # column completion on <Tab> only (cli/completion.py and what it reads headers with)
    "ce_cli.cli.completion",
    "click.shell_completion",
    "csv",
    "gzip",
    # a temperature JSON file or a class file (options.py), an unknown config key's hint
    "json",
    "pathlib",
    "difflib",
    # the library: never for --help
    "numpy",
    "pyarrow",
    "pandas",
    "rich",
)


SITE = [p for p in sys.path if p.endswith("site-packages")]


def imported_by(args: list[str]) -> tuple[str, list[str]]:
    """``ce ARGS`` in a fresh interpreter as a wheel install has it (``-S``: site-packages on the
    path but no .pth hooks, such as an editable install's finder, which imports pathlib): what it
    printed (``ce`` alone: the help on stderr), and which of ``DEFERRED`` it imported."""
    code = (
        f"import sys; sys.path[:0] = [{str(ROOT)!r}, *{SITE!r}]\n"
        "from ce_cli.cli.main import main\n"
        f"sys.argv = ['ce', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {DEFERRED!r} if m in sys.modules], file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    *printed, modules = done.stderr.strip().splitlines()
    return done.stdout + "\n".join(printed), ast.literal_eval(modules)


@pytest.mark.parametrize("args", [["--help"], [], ["score", "--help"], ["weights", "--help"]])
def test_help_imports_nothing_it_does_not_print(args: list[str]) -> None:
    out, imported = imported_by(args)
    assert "Usage: ce" in out
    assert imported == []


def test_a_lazy_command_is_imported_when_it_runs() -> None:
    out, imported = imported_by(["check", "--help"])
    assert "--max-loss" in out
    assert {"ce_cli.cli.check", "ce_cli.report.check_flags"} <= set(imported)
    assert "ce_cli.cli.label_issues" not in imported and "numpy" not in imported


def test_the_command_list_is_the_same_loaded_or_not() -> None:
    """``ce --help`` lists a lazy command with the help its entry holds: the same bytes as the
    command's own help at every width (click shortens it to fit)."""
    code = (
        "from click.testing import CliRunner\n"
        "from ce_cli.cli.main import cli\n"
        "widths = (30, 60, 80, 100, 200)\n"
        "def helps():\n"
        "    run = CliRunner().invoke\n"
        "    return [run(cli, ['--help'], terminal_width=w).output for w in widths]\n"
        "lazy = helps()\n"
        "assert not cli.lazy_commands.loaded.keys() & {'check', 'label-issues'}\n"
        "for name in list(cli.commands):\n"
        "    cli.commands[name]\n"
        "assert cli.lazy_commands.loaded.keys() >= {'check', 'label-issues'}\n"
        "print(lazy == helps(), 'label-issues  Rows whose' in lazy[3])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.split() == ["True", "True"], done.stderr


@pytest.mark.parametrize("name", LAZY)
def test_a_lazy_entry_holds_the_first_paragraph_of_its_command_help(name: str) -> None:
    entry = cli.lazy_commands.lazy[name]
    command = cli.commands[name]
    assert command.help is not None
    assert entry.help.split() == command.help.partition("\n\n")[0].split()
    assert command is cli.get_command(click.Context(cli), name)
    assert command.name == name


def test_lazy_commands_list_every_name_and_import_once() -> None:
    group = CEGroup(name="g")
    group.add_command(click.Command("eager"))
    group.add_lazy_command("check", "ce_cli.cli.check:check_command", "A gate.")
    commands = group.lazy_commands
    assert isinstance(group.commands, LazyCommands)
    assert sorted(group.commands) == ["check", "eager"] and len(commands) == 2
    assert "check" in commands and "check" not in commands.loaded  # `in` imports nothing
    assert "nope" not in commands and commands.get("nope") is None
    assert group.list_commands(click.Context(group)) == ["check", "eager"]
    first = commands["check"]
    assert first is commands["check"] and first.name == "check"
    del commands["check"]
    assert "check" not in commands and list(commands) == ["eager"]
    with pytest.raises(KeyError):
        del commands["check"]


def test_every_command_completes_and_a_typo_names_a_lazy_one() -> None:
    items = ShellComplete(cli, {}, "ce", "_CE_COMPLETE").get_completions([], "")
    assert [i.value for i in items] == ["calibrate", "check", "label-issues", "score", "weights"]
    code = "import sys; sys.argv = ['ce', 'chek']; from ce_cli.cli.main import main; main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr == "ce: error: No such command 'chek'. Did you mean 'check'?\n"


def test_a_run_on_numeric_labels_never_imports_pyarrow_compute(tmp_path: object) -> None:
    """``pyarrow.compute`` (~35 ms to import) comes in only when a compute function is called
    (``ce_cli.io.compute``): string labels need one, numeric ones none. ``ce score`` never
    imports the check rules (~8 ms)."""
    code = (
        "import sys\n"
        "from ce_cli.cli.main import main\n"
        "sys.argv = ['ce', 'score', sys.argv[1], '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('pyarrow.compute' in sys.modules, file=sys.stderr)\n"
        "assert 'ce_cli.report.check_rules' not in sys.modules\n"
        "assert 'secrets' not in sys.modules\n"
    )
    numeric = f"{tmp_path}/numeric.csv"
    with open(numeric, "w") as f:
        f.write("label,logit_0,logit_1\n0,1.5,-0.5\n1,0.25,2.0\n")
    seen = {}
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_ACTIONS"}  # not in a CI log
    for path in (numeric, "sample_data/multiclass.csv"):
        done = subprocess.run(
            [sys.executable, "-c", code, path], capture_output=True, text=True, cwd=ROOT, env=env
        )
        assert done.returncode == 0, done.stderr
        seen[path] = done.stderr.strip().splitlines()[-1]
    assert seen == {numeric: "False", "sample_data/multiclass.csv": "True"}
