"""Configuration: the guide's TOML and environment variables load exactly as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scheduler_core import config as config_module
from scheduler_core.config import (
    SECRET_KEYS,
    ConfigErrors,
    SchedulerConfig,
    config_keys,
    config_to_toml,
    find_config_path,
    load_config,
    load_config_text,
    set_config_value,
    validate_config_file,
)
from scheduler_core.errors import ConfigError
from scheduler_core.model import RunnerKind

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.toml"

GUIDE_TOML = """\
[scheduler]
tick_interval_seconds = 1
max_jitter_seconds = 30
max_concurrent_jobs = 20
enable_metrics = true
default_max_retries = 3
shutdown_timeout_seconds = 60
[scheduler.delivery]
# Webhook settings
webhook_timeout_seconds = 30
webhook_retry_attempts = 3
# Slack settings
slack_api_token = "${SLACK_API_TOKEN}"
slack_default_channel = "#ops"
# Email settings
smtp_host = "smtp.example.com"
smtp_port = 587
smtp_username = "${SMTP_USER}"
smtp_password = "${SMTP_PASS}"
email_from = "symbiont@example.com"
"""

GUIDE_MIGRATION_TOML = """\
[scheduler]
tick_interval_seconds = 1
max_jitter_seconds = 30
default_max_retries = 3
shutdown_timeout_seconds = 60
"""


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Never read the developer's own ~/.config/symbi/config.toml."""
    path = tmp_path / "user-config" / "config.toml"
    from scheduler_core.config import _load

    monkeypatch.setattr(_load, "default_config_path", lambda: path)
    return path


# --- defaults and the guide ------------------------------------------------------------------


def test_defaults_without_a_file() -> None:
    cfg = load_config(env={})
    assert cfg == SchedulerConfig()
    s = cfg.scheduler
    assert s.tick_interval_seconds == 1
    assert s.max_jitter_seconds == 0
    assert s.max_concurrent_jobs == 10
    assert s.enable_metrics is True
    assert s.default_max_retries == 3
    assert s.shutdown_timeout_seconds == 30
    assert cfg.path is None and cfg.warnings == ()


def test_guide_toml_loads_exactly_as_written() -> None:
    env = {"SLACK_API_TOKEN": "xoxb-1", "SMTP_USER": "bot", "SMTP_PASS": "pw"}
    cfg = load_config_text(GUIDE_TOML, "guide.toml", env=env)
    s = cfg.scheduler
    assert (
        s.tick_interval_seconds,
        s.max_jitter_seconds,
        s.max_concurrent_jobs,
        s.enable_metrics,
        s.default_max_retries,
        s.shutdown_timeout_seconds,
    ) == (1, 30, 20, True, 3, 60)
    d = s.delivery
    assert (d.webhook_timeout_seconds, d.webhook_retry_attempts) == (30, 3)
    assert (d.slack_api_token, d.slack_default_channel) == ("xoxb-1", "#ops")
    assert (d.smtp_host, d.smtp_port, d.smtp_username, d.smtp_password) == (
        "smtp.example.com",
        587,
        "bot",
        "pw",
    )
    assert d.email_from == "symbiont@example.com"
    assert cfg.warnings == ()


def test_guide_toml_loads_without_its_variables_set() -> None:
    cfg = load_config_text(GUIDE_TOML, "guide.toml", env={})
    d = cfg.scheduler.delivery
    assert (d.slack_api_token, d.smtp_username, d.smtp_password) == (None, None, None)
    assert d.smtp_host == "smtp.example.com"
    assert cfg.warnings == (
        "scheduler.delivery.slack_api_token: ${SLACK_API_TOKEN} is not set, "
        "so this setting is left unset",
        "scheduler.delivery.smtp_username: ${SMTP_USER} is not set, so this setting is left unset",
        "scheduler.delivery.smtp_password: ${SMTP_PASS} is not set, so this setting is left unset",
    )


def test_guide_jitter_example_and_migration_block() -> None:
    jitter = "[scheduler]\nmax_jitter_seconds = 30 # Spread job starts across 30-second window\n"
    assert load_config_text(jitter, env={}).scheduler.max_jitter_seconds == 30
    cfg = load_config_text(GUIDE_MIGRATION_TOML, env={})
    assert cfg.scheduler.shutdown_timeout_seconds == 60
    assert cfg.scheduler.max_jitter_seconds == 30


def test_design_tables() -> None:
    text = """
data_dir = "/srv/symbi"
dsl_paths = ["/etc/symbi/jobs", "extra.symbi"]

[scheduler]
timezone = "Europe/Berlin"
environment = "staging"

[store]
url = "/srv/symbi/jobs.db"

[api]
host = "0.0.0.0"
port = 9090
api_keys = ["k1-0123456789abcdef"]

[agentpin]
required = true
domain = "agent.example.com"

[tui]
refresh_interval_seconds = 0.5
theme = "textual-dark"

[tui.keymap]
pause = "p"
run_now = "ctrl+r"

[scheduler.delivery.custom]
pager = "mypkg.delivery:Pager"

[agents."backup-agent"]
command = "tar czf /tmp/b.tgz /srv"

[agents.writer]
model = "llama3.2"
provider = "openai"
base_url = "http://localhost:11434/v1"
env = { A = "1" }
"""
    cfg = load_config_text(text, "/etc/symbi/config.toml", env={})
    assert cfg.data_dir == "/srv/symbi"
    assert cfg.dsl_paths == ("/etc/symbi/jobs", "/etc/symbi/extra.symbi")
    assert cfg.scheduler.timezone == "Europe/Berlin"
    assert cfg.scheduler.environment == "staging"
    assert cfg.store.url == "/srv/symbi/jobs.db"
    assert (cfg.api.host, cfg.api.port, cfg.api.api_keys) == (
        "0.0.0.0",
        9090,
        ("k1-0123456789abcdef",),
    )
    assert cfg.agentpin.required and cfg.agentpin.domain == "agent.example.com"
    assert cfg.tui.refresh_interval_seconds == 0.5
    assert dict(cfg.tui.keymap) == {"pause": "p", "run_now": "ctrl+r"}
    assert cfg.tui.theme == "textual-dark"
    assert dict(cfg.scheduler.delivery.custom) == {"pager": "mypkg.delivery:Pager"}
    backup = cfg.agents["backup-agent"]
    assert backup.runner is RunnerKind.COMMAND
    assert backup.command == "tar czf /tmp/b.tgz /srv"
    assert backup.source == "config:/etc/symbi/config.toml"
    writer = cfg.agents["writer"]
    assert writer.runner is RunnerKind.LLM and dict(writer.env) == {"A": "1"}


# --- environment -------------------------------------------------------------------------------


def test_guide_environment_variables_override_the_file() -> None:
    env = {
        "SYMBI_SCHEDULER_MAX_JITTER": "30",
        "SYMBI_SCHEDULER_MAX_CONCURRENT": "20",
        "SYMBI_SLACK_TOKEN": "xoxb-...",
        "SYMBI_WEBHOOK_AUTH_HEADER": "Bearer secret-token",
        "SYMBI_AGENTPIN_REQUIRED": "true",
        "SYMBI_AGENTPIN_DOMAIN": "agent.example.com",
    }
    text = (
        "[scheduler]\nmax_jitter_seconds = 5\nmax_concurrent_jobs = 3\n"
        "[agentpin]\nrequired = false\n"
    )
    cfg = load_config_text(text, env=env)
    assert cfg.scheduler.max_jitter_seconds == 30
    assert cfg.scheduler.max_concurrent_jobs == 20
    assert cfg.scheduler.delivery.slack_api_token == "xoxb-..."
    assert cfg.scheduler.delivery.webhook_auth_header == "Bearer secret-token"
    assert cfg.agentpin.required is True
    assert cfg.agentpin.domain == "agent.example.com"


def test_other_environment_variables() -> None:
    env = {
        "SYMBI_DB": "/tmp/x.db",
        "SYMBI_DATA_DIR": "/tmp/data",
        "SYMBI_API_KEY": "k2-0123456789abcdef",
    }
    cfg = load_config_text('[api]\napi_keys = ["k1-0123456789abcdef"]\n', env=env)
    assert cfg.store.url == "/tmp/x.db"
    assert cfg.data_dir == "/tmp/data"
    assert cfg.api.api_keys == ("k1-0123456789abcdef", "k2-0123456789abcdef")


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("SYMBI_SCHEDULER_MAX_JITTER", "lots", "expected a number of seconds"),
        ("SYMBI_SCHEDULER_MAX_CONCURRENT", "1.5", "expected a whole number"),
        ("SYMBI_AGENTPIN_REQUIRED", "maybe", "expected true or false"),
        ("SYMBI_SCHEDULER_MAX_CONCURRENT", "0", "must be between 1 and"),
    ],
)
def test_bad_environment_values_name_the_variable(var: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("", env={var: value})
    assert fragment in info.value.message
    assert var in str(info.value)
    assert info.value.line is None


def test_log_settings_load_checked_and_from_the_environment(tmp_path: Path) -> None:
    cfg = load_config_text(
        f'data_dir = "{tmp_path}"\n[log]\nlevel = "DEBUG"\nformat = "json"\nmax_bytes = 8192\n',
        env={},
    )
    assert (cfg.log.level, cfg.log.format, cfg.log.max_bytes) == ("debug", "json", 8192)
    assert cfg.log.file and cfg.log_path() == tmp_path / "daemon.log"
    assert load_config_text('[log]\npath = "/var/log/s.log"\n', env={}).log_path() == Path(
        "/var/log/s.log"
    )
    assert load_config_text("", env={"SYMBI_LOG_LEVEL": "warning"}).log.level == "warning"
    for text, key, words in (
        ('[log]\nlevel = "loud"\n', "log.level", "'loud' is not one of debug, info"),
        ('[log]\nformat = "xml"\n', "log.format", "'xml' is not one of text, json"),
        ("[log]\nbackup_count = 0\n", "log.backup_count", "between 1 and 1000"),
        ("[log]\nmax_bytes = 10\n", "log.max_bytes", ">= 4096"),
    ):
        with pytest.raises(ConfigError) as info:
            load_config_text(text, env={})
        assert info.value.key == key and words in info.value.message, info.value.message
        assert info.value.line == 2
    with pytest.raises(ConfigError) as info:
        load_config_text("", env={"SYMBI_LOG_LEVEL": "chatty"})
    assert "SYMBI_LOG_LEVEL" in str(info.value)


def test_a_table_repeated_around_others_is_a_config_error() -> None:
    """tomlkit parses this, then refuses it when the tables are merged: still a ConfigError."""
    text = (
        "[scheduler.delivery.custom]\n[[agents]]\n[scheduler.delivery]\n[agents.z]\n"
        "[scheduler.delivery.custom]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config_text(text, env={})
    assert "custom" in info.value.message


def test_config_file_location(tmp_path: Path, no_user_config: Path) -> None:
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("[scheduler]\nmax_concurrent_jobs = 1\n")
    from_env = tmp_path / "env.toml"
    from_env.write_text("[scheduler]\nmax_concurrent_jobs = 2\n")
    no_user_config.parent.mkdir(parents=True)
    no_user_config.write_text("[scheduler]\nmax_concurrent_jobs = 3\n")
    env = {"SYMBI_CONFIG": str(from_env)}
    assert load_config(explicit, env=env).scheduler.max_concurrent_jobs == 1
    assert load_config(env=env).scheduler.max_concurrent_jobs == 2
    assert load_config(env={}).scheduler.max_concurrent_jobs == 3
    assert load_config(env={}).path == str(no_user_config)
    assert find_config_path(env={}) == no_user_config
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="SYMBI_CONFIG"):
        load_config(env={"SYMBI_CONFIG": str(tmp_path / "missing.toml")})


# --- ${VAR} --------------------------------------------------------------------------------------


def test_variables_are_expanded_everywhere() -> None:
    text = """
dsl_paths = ["${JOBS}/a", "${NOPE:-/default}"]
[scheduler]
environment = "${DEPLOY}"
[agents.a]
command = "run ${JOBS}"
env = { TOKEN = "${TOKEN}", LITERAL = "$${KEPT}" }
"""
    env = {"JOBS": "/jobs", "DEPLOY": "prod", "TOKEN": "t"}
    cfg = load_config_text(text, env=env)
    assert cfg.dsl_paths == ("/jobs/a", "/default")
    assert cfg.scheduler.environment == "prod"
    assert cfg.agents["a"].command == "run /jobs"
    assert dict(cfg.agents["a"].env) == {"TOKEN": "t", "LITERAL": "${KEPT}"}


def test_unset_variable_in_a_required_setting_is_an_error() -> None:
    text = '[scheduler]\ntick_interval_seconds = 1\ntimezone = "${TZ_NAME}"\n'
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "c.toml", env={})
    err = info.value
    assert (err.key, err.line) == ("scheduler.timezone", 3)
    assert "${TZ_NAME} is not set" in err.message


def test_unset_variable_in_an_agent_is_an_error() -> None:
    text = '[agents.x]\ncommand = "x"\nenv = { TOKEN = "${MISSING}" }\n'
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "c.toml", env={})
    assert (info.value.key, info.value.line) == ("agents.x.env.TOKEN", 3)


# --- errors --------------------------------------------------------------------------------------


def test_unknown_key_names_key_line_and_suggestion() -> None:
    text = "[scheduler]\ntick_interval_seconds = 1\nmax_jiter_seconds = 30\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "c.toml", env={})
    err = info.value
    assert (err.key, err.path, err.line) == ("scheduler.max_jiter_seconds", "c.toml", 3)
    assert str(err) == (
        "c.toml:3 scheduler.max_jiter_seconds: unknown key 'max_jiter_seconds' in [scheduler] "
        "(did you mean 'max_jitter_seconds'?)"
    )


def test_unknown_tables_and_misplaced_keys() -> None:
    text = 'timezone = "UTC"\n[schedular]\nx = 1\n[scheduler.delivery]\nslack_token = "x"\n'
    with pytest.raises(ConfigErrors) as info:
        load_config_text(text, "c.toml", env={})
    got = [(e.key, e.line, e.message) for e in info.value.errors]
    assert got[0][:2] == ("timezone", 1)
    assert "it belongs in [scheduler]" in got[0][2]
    assert got[1][:2] == ("schedular", 2)
    assert "did you mean 'scheduler'" in got[1][2]
    assert got[2][:2] == ("scheduler.delivery.slack_token", 5)
    assert "did you mean 'slack_api_token'" in got[2][2]
    assert info.value.line == 1  # the first problem


@pytest.mark.parametrize(
    ("text", "key", "line", "fragment"),
    [
        (
            '[scheduler]\nmax_concurrent_jobs = "20"\n',
            "scheduler.max_concurrent_jobs",
            2,
            "without quotes",
        ),
        (
            "[scheduler]\nenable_metrics = 1\n",
            "scheduler.enable_metrics",
            2,
            "expected true or false",
        ),
        (
            "[scheduler]\nmax_concurrent_jobs = 2.5\n",
            "scheduler.max_concurrent_jobs",
            2,
            "whole number",
        ),
        (
            "[scheduler]\nmax_jitter_seconds = -1\n",
            "scheduler.max_jitter_seconds",
            2,
            "must be >= 0",
        ),
        (
            "[scheduler]\ntick_interval_seconds = 0\n",
            "scheduler.tick_interval_seconds",
            2,
            "must be > 0",
        ),
        ('[scheduler]\ntimezone = "Mars/Base"\n', "scheduler.timezone", 2, "unknown time zone"),
        (
            "[scheduler.delivery]\nsmtp_port = 70000\n",
            "scheduler.delivery.smtp_port",
            2,
            "between 1 and 65535",
        ),
        ('dsl_paths = "jobs"\n', "dsl_paths", 1, "expected an array of strings"),
        ("[api]\napi_keys = [1]\n", "api.api_keys", 2, "item 0 is a number"),
        ("[tui.keymap]\nquit = 1\n", "tui.keymap.quit", 2, "expected a string"),
        ("scheduler = 1\n", "scheduler", 1, "expected a table"),
        ("[agents]\nx = 1\n", "agents.x", 2, "expected a table [agents.x]"),
        ('[agents.x]\ncomand = "true"\n', "agents.x.comand", 2, "did you mean 'command'"),
        (
            '[agents.x]\nrunner = "docker"\ncommand = "x"\n',
            "agents.x.runner",
            2,
            "'docker' is not one of",
        ),
        ('[agents.x]\ndescription = "d"\n', "agents.x", 1, "needs command"),
        (
            '[agents.x]\nsystem_prompt = "hi"\nmodel = "llama3.2"\n',
            "agents.x.model",
            3,
            "cannot tell which provider serves model 'llama3.2'",
        ),
        ("[scheduler]\nstarted = 1979-05-27\n", "scheduler.started", 2, "unknown key"),
    ],
)
def test_bad_values_name_key_and_line(text: str, key: str, line: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "c.toml", env={})
    err = info.value
    assert (err.key, err.line) == (key, line), str(err)
    assert fragment in err.message


def test_invalid_toml_reports_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("[scheduler]\nmax_jitter_seconds = \n", "c.toml", env={})
    assert info.value.line == 2
    assert "invalid TOML" in info.value.message


def test_validate_config_file_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[scheduler]\nfoo = 1\nbar = 2\n")
    errors = validate_config_file(path, env={})
    assert [(e.key, e.line) for e in errors] == [("scheduler.foo", 2), ("scheduler.bar", 3)]
    path.write_text("[scheduler]\nmax_jitter_seconds = 3\n")
    assert validate_config_file(path, env={}) == []
    assert "not found" in validate_config_file(tmp_path / "none.toml")[0].message


# --- the example file ----------------------------------------------------------------------------


def test_example_config_loads_in_a_clean_environment() -> None:
    cfg = load_config(EXAMPLE, env={})
    assert cfg.path == str(EXAMPLE)
    assert cfg.scheduler.max_concurrent_jobs == 10
    assert "backup-agent" in cfg.agents
    assert all("is not set" in w for w in cfg.warnings)
    assert validate_config_file(EXAMPLE, env={}) == []


def test_example_config_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    lines = text.splitlines()
    for key in config_keys():
        leaf = key.rpartition(".")[2]
        if leaf in ("keymap", "custom", "values"):
            assert f"[{key}]" in text, key
            continue
        if key == "api.keys":  # tables of their own: [api.keys.NAME] with key and role
            assert "# [api.keys." in text and '# role = "operator"' in text, key
            continue
        if key == "llm.prices":  # tables of their own: [llm.prices."MODEL"], input and output
            assert '[llm.prices."' in text and "\noutput = " in text, key
            continue
        pattern = re.compile(rf"^#? ?{re.escape(leaf)} = ")
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        assert hits, f"{key} is not in config.example.toml"
        i = hits[0]
        # a comment above the key (or the previous key's comment block) explains it
        assert lines[i - 1].startswith("#"), f"{key} has no comment"
    for var in config_module.ENV_OVERRIDES:
        assert var in text


# --- show and set --------------------------------------------------------------------------------


def test_config_show_masks_secrets_and_round_trips() -> None:
    env = {"SLACK_API_TOKEN": "xoxb-real", "SMTP_USER": "u", "SMTP_PASS": "hunter2"}
    cfg = load_config_text(GUIDE_TOML + '[api]\napi_keys = ["k-secret-0123456789"]\n', env=env)
    shown = config_to_toml(cfg)
    assert (
        "xoxb-real" not in shown and "hunter2" not in shown and "k-secret-0123456789" not in shown
    )
    assert 'slack_api_token = "****"' in shown
    assert 'smtp_username = "u"' in shown
    assert "# webhook_auth_header = (not set)" in shown
    # a masked key is not a key (too short): the text loads once the keys are given again
    assert 'api_keys = ["****"]' in shown
    again = load_config_text(shown.replace('api_keys = ["****"]', "api_keys = []"), env={})
    assert again.scheduler.max_concurrent_jobs == 20
    assert again.scheduler.delivery.smtp_host == "smtp.example.com"
    unmasked = config_to_toml(cfg, mask_secrets=False)
    assert "hunter2" in unmasked
    assert "scheduler.delivery.smtp_password" in SECRET_KEYS


def test_config_show_lists_agents_with_secret_env_masked() -> None:
    text = '[agents.a]\ncommand = ["x", "y"]\nenv = { API_TOKEN = "s3cret", MODE = "fast" }\n'
    shown = config_to_toml(load_config_text(text, env={}))
    assert "[agents.a]" in shown and 'runner = "command"' in shown
    assert "s3cret" not in shown and '"fast"' in shown
    assert load_config_text(shown, env={}).agents["a"].command == ("x", "y")


COMMENTED = """\
# My scheduler config
[scheduler]
# how many at once
max_concurrent_jobs = 10 # keep small
max_jitter_seconds = 0

[scheduler.delivery]
slack_default_channel = "#ops" # the default
"""


def test_set_config_value_keeps_comments_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(COMMENTED)
    set_config_value(path, "scheduler.max_concurrent_jobs", "20")
    set_config_value(path, "scheduler.delivery.slack_default_channel", "#alerts")
    set_config_value(path, "scheduler.enable_metrics", "false")
    text = path.read_text()
    assert text.startswith("# My scheduler config\n[scheduler]\n# how many at once\n")
    assert "max_concurrent_jobs = 20 # keep small\n" in text
    assert 'slack_default_channel = "#alerts" # the default\n' in text
    cfg = load_config(path, env={})
    assert cfg.scheduler.max_concurrent_jobs == 20
    assert cfg.scheduler.enable_metrics is False
    assert cfg.scheduler.delivery.slack_default_channel == "#alerts"


A, B = "key-a-0123456789abcdef", "key-b-0123456789abcdef"


def test_set_config_value_adds_tables_and_parses_literals(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    set_config_value(path, "api.api_keys", f'["{A}", "{B}"]')
    set_config_value(path, "scheduler.timezone", "Europe/Paris")
    set_config_value(path, "scheduler.environment", "2024")  # a string setting stays text
    set_config_value(path, "tui.keymap.quit", "ctrl+q")
    set_config_value(path, 'agents."backup-agent".command', "tar czf /tmp/b.tgz /srv")
    set_config_value(path, "agents.backup-agent.timeout_seconds", "60")
    set_config_value(path, "scheduler.max_jitter_seconds", "2.5")
    set_config_value(path, "dsl_paths", "a.symbi, b")
    cfg = load_config(path, env={})
    assert cfg.api.api_keys == (A, B)
    assert cfg.scheduler.timezone == "Europe/Paris"
    assert cfg.scheduler.environment == "2024"
    assert dict(cfg.tui.keymap) == {"quit": "ctrl+q"}
    assert cfg.agents["backup-agent"].command == "tar czf /tmp/b.tgz /srv"
    assert cfg.agents["backup-agent"].timeout_seconds == 60
    assert cfg.scheduler.max_jitter_seconds == 2.5
    assert [Path(p).name for p in cfg.dsl_paths] == ["a.symbi", "b"]


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("scheduler.max_jiter_seconds", "5", "did you mean 'max_jitter_seconds'"),
        ("schedular.x", "5", "did you mean 'scheduler'"),
        ("scheduler", "5", "is a table"),
        ("scheduler.max_concurrent_jobs", "many", "expected a number"),
        ("scheduler.max_concurrent_jobs", "0", "between 1 and"),
        ("agents.x.modle", "gpt", "did you mean 'model'"),
        ("agents.x", "gpt", "agents.NAME.KEY"),
        ("tui.keymap", "q", "set tui.keymap.NAME"),
        ("", "1", "not a key"),
    ],
)
def test_set_config_value_rejects_and_leaves_the_file(
    tmp_path: Path, key: str, value: str, fragment: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(COMMENTED)
    with pytest.raises(ConfigError) as info:
        set_config_value(path, key, value)
    assert fragment in str(info.value)
    assert path.read_text() == COMMENTED


def test_set_config_value_does_not_need_variables_set(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[scheduler]\nenvironment = "${DEPLOY_ENV}"\n')
    set_config_value(path, "scheduler.max_jitter_seconds", "10")
    assert "max_jitter_seconds = 10" in path.read_text()


# --- named API keys -------------------------------------------------------------------------------


def test_named_keys_load_show_masked_and_are_set_one_field_at_a_time(tmp_path: Path) -> None:
    from scheduler_core.access import Role

    text = (
        f'[api]\napi_keys = ["{A}"]\n'
        '[api.keys.ci]\nkey = "${CI_KEY}"\nrole = "Operator"\n'
        f'[api.keys.grafana]\nkey = "{B}"\n'
    )
    cfg = load_config_text(text, env={"CI_KEY": "ci-key-0123456789abcdef"})
    assert {n: (k.key, k.role) for n, k in cfg.api.keys.items()} == {
        "ci": ("ci-key-0123456789abcdef", Role.OPERATOR),
        "grafana": (B, Role.VIEWER),  # no role given: the least
    }
    shown = config_to_toml(cfg)
    assert "[api.keys.ci]" in shown and 'role = "operator"' in shown
    assert "ci-key-0123456789abcdef" not in shown and B not in shown and A not in shown
    path = tmp_path / "config.toml"
    set_config_value(path, "api.keys.ops.key", "${OPS_KEY}")  # checked as set where it runs
    set_config_value(path, "api.keys.ops.role", "admin")
    loaded = load_config(path, env={"OPS_KEY": "ops-key-0123456789abcdef"})
    assert loaded.api.keys["ops"].role is Role.ADMIN
    with pytest.raises(ConfigError, match="'boss' is not one of viewer, operator, admin"):
        set_config_value(path, "api.keys.ops.role", "boss")
    with pytest.raises(ConfigError, match=r"api\.keys\.NAME\.key and api\.keys\.NAME\.role"):
        set_config_value(path, "api.keys.ops", "x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[api.keys."a b"]\nkey = "0123456789abcdefXY"\n', "cannot name a key"),
        ('[api.keys.tui]\nkey = "0123456789abcdefXY"\n', "names the local operator"),
        ('[api.keys.ci]\nrole = "viewer"\n', 'missing key = "..." in [api.keys.ci]'),
        ('[api.keys.ci]\nkey = "0123456789abcdefXY"\nrol = "viewer"\n', "did you mean 'role'?"),
        (
            f'[api]\napi_keys = ["{A}"]\n[api.keys.x]\nkey = "{A}"\n',
            "api.keys.x.key: the key is the same as api_keys item 0 (key-1)",
        ),
        (
            f'[api]\napi_keys = ["{A}"]\n[api.keys.key-1]\nkey = "{B}"\n',
            "'key-1' is already the name of api_keys item 0",
        ),
    ],
)
def test_named_keys_are_checked_with_their_key_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "c.toml", env={})
    assert message in str(err.value), str(err.value)


def test_a_config_agent_gets_its_provider_from_a_well_known_model() -> None:
    text = '[agents.c]\nmodel = "claude-sonnet-4.5"\n[agents.o]\nmodel = "o3-mini"\n'
    agents = load_config_text(text, "c.toml", env={}).agents
    assert (agents["c"].provider, agents["o"].provider) == ("anthropic", "openai")
