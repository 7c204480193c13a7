"""The ``symbi-tui`` entry point: options, errors, and no Textual until the console starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from symbi_tui.cli.main import build_parser, load_settings, main


def test_entry_point_does_not_import_textual() -> None:
    """``--daemon`` (later) runs headless from this entry point: importing it must stay light."""
    code = (
        "import sys, symbi_tui, symbi_tui.cli.main, symbi_tui.backend, symbi_tui.format;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'));"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_options() -> None:
    args = build_parser().parse_args(["--demo", "--readonly", "--no-mouse"])
    assert (args.demo, args.readonly, args.no_mouse, args.db, args.config) == (
        True,
        True,
        True,
        None,
        None,
    )
    args = build_parser().parse_args(["--db", "x.db", "--config", "c.toml"])
    assert (args.db, args.config) == ("x.db", "c.toml")


def test_demo_and_db_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--demo", "--db", "x.db"])
    assert exc.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_missing_config_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symbi-tui: ") and str(missing) in err and "not found" in err


def test_config_file_settings_reach_the_console(tmp_path: Path) -> None:
    path = tmp_path / "symbi.toml"
    path.write_text(
        '[tui]\nrefresh_interval_seconds = 2.5\n\n[tui.keymap]\n"job-pause" = "space"\n'
    )
    config = load_settings(str(path))
    assert config.tui.refresh_interval_seconds == 2.5
    assert dict(config.tui.keymap) == {"job-pause": "space"}


def test_an_invalid_config_file_is_reported_with_its_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "symbi.toml"
    path.write_text("[tui]\nrefresh_interval_seconds = -1\n")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symbi-tui: ") and str(path) in err


def test_without_a_terminal_it_refuses_to_start(capsys: pytest.CaptureFixture[str]) -> None:
    # pytest captures stdin/stdout, so there is no TTY here
    assert main(["--demo"]) == 2
    assert "needs a terminal" in capsys.readouterr().err
