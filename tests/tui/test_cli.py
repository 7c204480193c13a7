"""The ``symbi-tui`` entry point: options, errors, and no Textual until the console starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from symbi_tui.cli.main import build_parser, load_settings, main


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
