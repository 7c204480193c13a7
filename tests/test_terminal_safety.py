"""Text from agents never drives the operator's terminal: every human-readable output of
``symbi`` (tables, plain lines, errors, ``symbi logs``) shows control characters and escape
sequences as visible escapes; JSON keeps the exact string.

The agents here write what an attacker would: OSC 0 (the window title), OSC 52 (the
clipboard), CSI 2J (clear the screen), BEL and a C1 CSI; the commands run as processes against
a real daemon.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler_core.textsafe import json_safe, visible
from tests.test_cli_daemon import daemon
from tests.test_cli_symbi import Cli, make_cli

#: what the hostile agents print: title, clipboard, clear screen, bell, a C1 CSI, colour
HOSTILE = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\x07\u009b31mred\x1b[0m done"
_SH = (
    "printf '\\033]0;pwned\\007\\033]52;c;ZXZpbA==\\007\\033[2J\\007\\302\\23331mred\\033[0m done'"
)
AGENTS = f"""
[agents.hostile-agent]
command = ["sh", "-c", {json.dumps(_SH)}]
[agents.hostile-failure]
command = ["sh", "-c", {json.dumps(_SH + " >&2; exit 3")}]
"""


def test_visible_escapes_what_a_terminal_acts_on_and_nothing_else() -> None:
    assert visible(HOSTILE) == (
        "\\x1b]0;pwned\\x07\\x1b]52;c;ZXZpbA==\\x07\\x1b[2J\\x07\\x9b31mred\\x1b[0m done"
    )
    assert visible("a\tb\nc\rd") == "a\tb\nc\\rd"
    assert visible("a\tb\nc", one_line=True) == "a\\tb\\nc"
    assert visible("\u202eevil\u2066 \x7f") == "\\u202eevil\\u2066 \\x7f"
    plain = "déjà vu: 100% ✔ 日本 C:\\path"
    assert visible(plain) is plain  # nothing to do: the same object
    # JSON: the same string once parsed, and nothing raw a terminal could act on
    document = json_safe(json.dumps({"output": HOSTILE}, ensure_ascii=False))
    assert json.loads(document) == {"output": HOSTILE}
    assert not any(c in document for c in "\x1b\x07\u009b")


def _assert_safe(text: str) -> None:
    """No raw control character but newlines, and the escapes visible."""
    assert "\x1b" not in text and "\x07" not in text and "\u009b" not in text, repr(text)
    assert "\\x1b]0;pwned\\x07" in text, text


@pytest.fixture
def hostile_cli(tmp_path: Path) -> Cli:
    cli = make_cli(tmp_path / "machine")
    cli.config.write_text(cli.config.read_text() + AGENTS)
    return cli


def test_agent_output_reaches_the_cli_escaped_through_a_daemon(hostile_cli: Cli) -> None:
    cli = hostile_cli
    with daemon(cli):
        for name, agent in (("osc", "hostile-agent"), ("osc-fails", "hostile-failure")):
            spec = {"name": name, "agent_id": agent, "cron_expr": "0 0 1 1 *", "max_retries": 0}
            cli.ok("cron", "add", "--json", json.dumps(spec))
        ran = cli("cron", "run", "osc", "--wait")
        assert ran.returncode == 0, ran.stderr
        _assert_safe(ran.stdout)
        failed = cli("cron", "run", "osc-fails", "--wait")
        assert failed.returncode == 1
        _assert_safe(failed.stderr)  # the error line: the tail of the agent's stderr

        history = cli.ok("cron", "history", "osc")
        _assert_safe(history)
        status = cli.ok("cron", "status", "osc-fails")
        _assert_safe(status)  # its last error
        audit = cli.ok("audit", "query", "--type", "CronJobFailed")
        _assert_safe(audit)
        logs = cli.ok("logs", "--filter", "run")
        assert "\x1b" not in logs and "\x07" not in logs

        # JSON keeps the exact strings
        (run,) = cli.json("cron", "history", "osc")
        assert run["output"] == HOSTILE
        (failure,) = cli.json("cron", "history", "osc-fails")
        assert HOSTILE in failure["error_message"]
        raw = cli.ok("cron", "history", "osc", "--format", "json")
        assert "\x1b" not in raw and "\u009b" not in raw  # written \u001b, \u009b
        (event,) = cli.json("audit", "query", "--type", "CronJobFailed")
        assert HOSTILE in event["details"]["error"]
