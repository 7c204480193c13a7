"""Delivery routing: the dispatcher, the registry and custom channels, stdout, log_file, masking."""

from __future__ import annotations

import asyncio
import io
import json
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler_core.config import DeliveryConfig
from scheduler_core.delivery import (
    BUILTIN_CHANNELS,
    ChannelRegistry,
    Delivered,
    Deliverer,
    DeliveryContext,
    DeliveryFailure,
    DeliveryResult,
    DeliveryRouter,
    SecretMasker,
    canonical_builtin,
    delivery_details,
    safe_filename,
)
from scheduler_core.errors import DeliveryError
from scheduler_core.model import JobDefinition, JobRun, RunStatus
from tests.delivery_servers import Sleeps, make_job, make_run

# --- custom channels, defined here and loaded as "tests.test_delivery:..." -----------------------

CALLS: list[tuple[str, str, str, str]] = []


class RecordingChannel:
    """A custom channel built with the delivery context."""

    def __init__(self, context: DeliveryContext) -> None:
        self.context = context

    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> Delivered:
        CALLS.append((channel, job.name, run.id, output))
        settings = job.delivery_config.get(channel, {})
        return Delivered(detail={"to": settings.get("to"), "has_context": self.context is not None})


class NoArgChannel:
    """A custom channel built with no arguments, answering None."""

    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
        CALLS.append((channel, job.name, run.id, output))


class SyncChannel:
    def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
        CALLS.append((channel, job.name, run.id, output))


class ExplodingChannel:
    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
        raise RuntimeError("kaboom")


class RefusingChannel:
    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
        raise DeliveryError("pager service said no")


class HangingChannel:
    timeout_seconds = 0.2

    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
        await asyncio.sleep(3600)


class SelfCancellingChannel:
    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
        raise asyncio.CancelledError


class NotARouter:
    pass


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def make_deliverer(
    tmp_path: Path, *, stream: io.StringIO | None = None, **config: Any
) -> Deliverer:
    return Deliverer(
        DeliveryConfig(**config),
        data_dir=tmp_path,
        env={},
        sleep=Sleeps(),
        stream=stream or io.StringIO(),
        registry=ChannelRegistry(config.get("custom"), use_entry_points=False),
    )


# --- results -------------------------------------------------------------------------------------


def test_delivery_result_round_trips() -> None:
    r = DeliveryResult(
        channel="webhook",
        ok=False,
        attempts=3,
        error="HTTP 503",
        duration_ms=12,
        detail={"status_code": 503},
    )
    d = r.to_dict()
    assert d == {
        "channel": "webhook",
        "ok": False,
        "attempts": 3,
        "error": "HTTP 503",
        "duration_ms": 12,
        "detail": {"status_code": 503},
    }
    assert DeliveryResult.from_dict(json.loads(json.dumps(d))) == r
    assert DeliveryResult.from_dict({"channel": "stdout", "ok": True}) == DeliveryResult(
        channel="stdout", ok=True
    )
    assert delivery_details([r]) == [d]


def test_delivery_failure_is_a_delivery_error() -> None:
    exc = DeliveryFailure("nope", attempts=2, detail={"status_code": 500})
    assert isinstance(exc, DeliveryError)
    assert exc.to_dict() == {
        "error": "nope",
        "code": "delivery_failed",
        "details": {"attempts": 2, "status_code": 500},
    }


# --- stdout ------------------------------------------------------------------------------------


async def test_stdout_writes_a_compact_block(tmp_path: Path) -> None:
    stream = io.StringIO()
    d = make_deliverer(tmp_path, stream=stream)
    d.context.now = lambda: make_run().finished_at
    [r] = await d.deliver(make_job(delivery=("stdout",)), make_run())
    assert r.ok and r.attempts == 1 and r.error is None
    assert stream.getvalue() == (
        "[2026-03-02T09:00:00Z] daily-report: succeeded in 850ms (run run-0001, attempt 1)\n"
        "  All systems nominal.\n"
        "  Disk 42% used.\n"
    )


async def test_stdout_block_of_a_failed_run_without_output(tmp_path: Path) -> None:
    stream = io.StringIO()
    d = make_deliverer(tmp_path, stream=stream)
    run = make_run(
        status=RunStatus.TIMED_OUT, output=None, error_message="cancelled at max_runtime\n5m"
    )
    [r] = await d.deliver(make_job(delivery=("stdout",)), run)
    assert r.ok
    text = stream.getvalue()
    assert ": timed out in 850ms" in text
    assert "  error: cancelled at max_runtime 5m\n" in text
    assert text.endswith("  (no output)\n")


async def test_stdout_defaults_to_sys_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = Deliverer(DeliveryConfig(), data_dir=tmp_path, env={})
    [r] = await d.deliver(make_job(delivery=("stdout",)), make_run(), output="hello")
    assert r.ok
    assert "  hello\n" in capsys.readouterr().out


# --- log_file ----------------------------------------------------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


async def test_log_file_appends_json_lines_per_job(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path)
    job = make_job(delivery=("log_file",))
    [first] = await d.deliver(job, make_run())
    [second] = await d.deliver(job, make_run(id="run-0002", output="line\u2028two\x85three"))
    assert first.ok and second.ok
    path = tmp_path / "logs" / "daily-report.jsonl"
    assert first.detail["path"] == str(path.resolve())
    raw = path.read_text("utf-8")
    assert raw.count("\n") == 2 and "\u2028" not in raw and "\x85" not in raw
    records = read_records(path)
    assert [r["run_id"] for r in records] == ["run-0001", "run-0002"]
    rec = records[0]
    assert rec["job_name"] == "daily-report" and rec["job_id"] == "job-123"
    assert rec["status"] == "succeeded" and rec["execution_time_ms"] == 850
    assert rec["output"] == "All systems nominal.\nDisk 42% used."
    assert records[1]["output"] == "line\u2028two\x85three"
    assert path.stat().st_mode & 0o777 == 0o600


async def test_log_file_uses_the_configured_directory(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path / "data", log_dir=str(tmp_path / "elsewhere"))
    [r] = await d.deliver(make_job(delivery=("log_file",)), make_run())
    assert r.ok
    assert (tmp_path / "elsewhere" / "daily-report.jsonl").exists()
    assert not (tmp_path / "data").exists()


async def test_log_file_rotates_by_size_keeping_backup_count(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path, log_max_bytes=1500, log_backup_count=2)
    job = make_job(delivery=("log_file",))
    rotated = []
    for i in range(12):
        [r] = await d.deliver(job, make_run(id=f"run-{i:04d}"), output="x" * 300)
        assert r.ok
        rotated.append(r.detail["rotated"])
    logs = tmp_path / "logs"
    assert sorted(p.name for p in logs.iterdir()) == [
        "daily-report.jsonl",
        "daily-report.jsonl.1",
        "daily-report.jsonl.2",
    ]
    assert any(rotated)
    for p in logs.iterdir():
        assert p.stat().st_size <= 1500
    ids = [
        rec["run_id"]
        for name in ("daily-report.jsonl.2", "daily-report.jsonl.1", "daily-report.jsonl")
        for rec in read_records(logs / name)
    ]
    # the newest runs, in order, with none lost between the files kept
    assert ids == [f"run-{i:04d}" for i in range(12 - len(ids), 12)]


async def test_log_file_without_backups_starts_afresh(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path, log_max_bytes=800, log_backup_count=0)
    job = make_job(delivery=("log_file",))
    for i in range(5):
        await d.deliver(job, make_run(id=f"run-{i}"), output="y" * 300)
    logs = tmp_path / "logs"
    assert [p.name for p in logs.iterdir()] == ["daily-report.jsonl"]
    assert read_records(logs / "daily-report.jsonl")[-1]["run_id"] == "run-4"


async def test_log_file_record_larger_than_the_limit_is_still_written(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path, log_max_bytes=100, log_backup_count=1)
    job = make_job(delivery=("log_file",))
    await d.deliver(job, make_run(id="a"), output="z" * 500)
    await d.deliver(job, make_run(id="b"), output="z" * 500)
    logs = tmp_path / "logs"
    assert read_records(logs / "daily-report.jsonl")[0]["run_id"] == "b"
    assert read_records(logs / "daily-report.jsonl.1")[0]["run_id"] == "a"


HOSTILE_NAMES = [
    "../../etc/x",
    "../..",
    "..",
    ".",
    "/etc/passwd",
    "/tmp/abs",
    "a\x00b",
    "nul\x00../../x",
    "tab\tnew\nline\rcr\x1b[31m",
    "C:\\Windows\\System32\\x",
    "..\\..\\x",
    "CON",
    "con.txt",
    "~root",
    ".hidden",
    "a/b",
    "a_b",
    " ",
    "\u202e\u0644\u0627 evil",
    "x" * 500,
]


async def test_log_file_names_can_never_escape_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "data"
    d = make_deliverer(root)
    for name in HOSTILE_NAMES:
        [r] = await d.deliver(make_job(name=name, delivery=("log_file",)), make_run())
        assert r.ok, (name, r.error)
    logs = root / "logs"
    files = list(logs.iterdir())
    assert len(files) == len(HOSTILE_NAMES)  # one file per distinct name, none shared
    for f in files:
        assert f.parent == logs and f.is_file() and not f.is_symlink()
        assert not f.name.startswith(".") and f.name.endswith(".jsonl")
        assert len(f.name) < 120
    # nothing was written anywhere else
    everything = await asyncio.to_thread(lambda: list(tmp_path.rglob("*")))
    outside = [p for p in everything if logs not in p.parents and p != logs]
    assert outside == [root]
    names = {rec["job_name"] for f in files for rec in read_records(f)}
    assert names == set(HOSTILE_NAMES)


async def test_log_file_refuses_a_symlink_pointing_outside(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (logs / "daily-report.jsonl").symlink_to(target)
    d = make_deliverer(tmp_path)
    [r] = await d.deliver(make_job(delivery=("log_file",)), make_run())
    assert not r.ok and r.attempts == 0
    assert "outside" in (r.error or "")
    assert target.read_text() == "keep me"


async def test_log_file_unwritable_directory_is_a_failed_result(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    d = make_deliverer(tmp_path, log_dir=str(blocker / "logs"))
    [r] = await d.deliver(make_job(delivery=("log_file",)), make_run())
    assert not r.ok
    assert "could not write the job's log file" in (r.error or "")


def test_safe_filename_examples() -> None:
    assert safe_filename("daily-report") == "daily-report"
    assert safe_filename("v1.2_nightly") == "v1.2_nightly"
    assert safe_filename("../../etc/x").startswith("etc_x-")
    assert safe_filename("..").startswith("job-")
    assert safe_filename("CON").startswith("job_CON-")
    assert safe_filename("a/b") != safe_filename("a_b")
    # a name that imitates another's hashed stem gets its own
    assert safe_filename(safe_filename("a/b")) != safe_filename("a/b")


@given(st.text(max_size=300))
def test_safe_filename_is_always_one_plain_component(name: str) -> None:
    stem = safe_filename(name)
    assert stem and len(stem) <= 100
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in stem)
    assert not stem.startswith(".") and ".." not in stem
    assert stem not in (".", "..")


@given(st.text(max_size=40), st.text(max_size=40))
def test_safe_filename_keeps_names_apart(a: str, b: str) -> None:
    if a != b:
        assert safe_filename(a) != safe_filename(b)


# --- registry and custom channels ------------------------------------------------------------


def test_builtin_names_and_aliases() -> None:
    assert set(BUILTIN_CHANNELS) == {"stdout", "log_file", "webhook", "slack", "email"}
    for spelling, name in [
        ("stdout", "stdout"),
        ("Stdout", "stdout"),
        ("console", "stdout"),
        ("log_file", "log_file"),
        ("LogFile", "log_file"),
        ("log-file", "log_file"),
        ("Webhook", "webhook"),
        ("SLACK", "slack"),
        ("e-mail", "email"),
        ("mail", "email"),
    ]:
        assert canonical_builtin(spelling) == name
    assert canonical_builtin("pagerduty") is None


async def test_custom_channel_from_module_class_in_config(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path, custom={"pager": "tests.test_delivery:RecordingChannel"})
    job = make_job(delivery=("pager",), delivery_config={"pager": {"to": "oncall"}})
    [r] = await d.deliver(job, make_run())
    assert r.ok, r.error
    assert r.detail == {"to": "oncall", "has_context": True}
    assert CALLS == [("pager", "daily-report", "run-0001", "All systems nominal.\nDisk 42% used.")]
    # the router is built once and reused
    await d.deliver(job, make_run(id="run-0002"))
    assert len(CALLS) == 2 and len(d._routers) == 1


async def test_custom_channel_variants(tmp_path: Path) -> None:
    d = make_deliverer(
        tmp_path,
        custom={
            "noarg": "tests.test_delivery:NoArgChannel",
            "sync": "tests.test_delivery:SyncChannel",
        },
    )
    d.registry.register("instance", NoArgChannel())
    d.registry.register("klass", RecordingChannel)
    job = make_job(delivery=("noarg", "custom:sync", "instance", "klass"))
    results = await d.deliver(job, make_run(), output="o")
    assert [(r.channel, r.ok, r.attempts) for r in results] == [
        ("noarg", True, 1),
        ("custom:sync", True, 1),
        ("instance", True, 1),
        ("klass", True, 1),
    ]
    assert sorted(c[0] for c in CALLS) == ["custom:sync", "instance", "klass", "noarg"]


async def test_custom_channel_from_an_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ep = metadata.EntryPoint(
        name="pager", value="tests.test_delivery:RecordingChannel", group="symbi.delivery"
    )

    def fake_entry_points(**kwargs: Any) -> list[metadata.EntryPoint]:
        assert kwargs == {"group": "symbi.delivery"}
        return [ep]

    monkeypatch.setattr(metadata, "entry_points", fake_entry_points)
    d = Deliverer(DeliveryConfig(), data_dir=tmp_path, env={}, stream=io.StringIO())
    assert "pager" in d.registry.names()
    [r] = await d.deliver(make_job(delivery=("Pager",)), make_run())
    assert r.ok, r.error
    assert CALLS[0][0] == "Pager"


async def test_config_custom_may_replace_a_builtin(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path, custom={"slack": "tests.test_delivery:NoArgChannel"})
    [r] = await d.deliver(make_job(delivery=("slack",)), make_run())
    assert r.ok and CALLS and CALLS[0][0] == "slack"


async def test_unknown_channel_is_a_failed_result_not_an_exception(tmp_path: Path) -> None:
    stream = io.StringIO()
    d = make_deliverer(tmp_path, stream=stream)
    results = await d.deliver(make_job(delivery=("pagerduty", "stdout")), make_run())
    unknown, stdout = results
    assert (unknown.channel, unknown.ok, unknown.attempts) == ("pagerduty", False, 0)
    assert "unknown delivery channel 'pagerduty'" in (unknown.error or "")
    assert "log_file" in (unknown.error or "")  # lists what is known
    assert stdout.ok and "daily-report" in stream.getvalue()


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("tests.no_such_module:Thing", "ModuleNotFoundError"),
        ("tests.test_delivery:Missing", "AttributeError"),
        ("not a spec", "not of the form"),
        ("tests.test_delivery:NotARouter", "no route() method"),
    ],
)
async def test_custom_channel_that_cannot_load_is_a_failed_result(
    tmp_path: Path, spec: str, needle: str
) -> None:
    d = make_deliverer(tmp_path, custom={"broken": spec})
    [r] = await d.deliver(make_job(delivery=("broken",)), make_run())
    assert (r.ok, r.attempts) == (False, 0)
    assert "custom channel 'broken' cannot be loaded" in (r.error or "")
    assert needle in (r.error or "")


# --- isolation, timeouts, order ---------------------------------------------------------------


async def test_one_failing_channel_never_blocks_the_others(tmp_path: Path) -> None:
    stream = io.StringIO()
    d = make_deliverer(
        tmp_path,
        stream=stream,
        custom={
            "boom": "tests.test_delivery:ExplodingChannel",
            "no": "tests.test_delivery:RefusingChannel",
            "hang": "tests.test_delivery:HangingChannel",
            "self-cancel": "tests.test_delivery:SelfCancellingChannel",
            "rec": "tests.test_delivery:RecordingChannel",
        },
    )
    job = make_job(delivery=("boom", "hang", "stdout", "no", "self-cancel", "log_file", "rec"))
    started = time.monotonic()
    results = await d.deliver(job, make_run())
    assert time.monotonic() - started < 2
    by = {r.channel: r for r in results}
    assert [r.channel for r in results] == list(job.delivery)
    assert by["boom"].error == "RuntimeError: kaboom" and not by["boom"].ok
    assert by["no"].error == "pager service said no" and by["no"].attempts == 1
    assert by["hang"].error == "timed out after 0.2s" and not by["hang"].ok
    assert by["hang"].duration_ms >= 150
    assert not by["self-cancel"].ok and "cancelled" in (by["self-cancel"].error or "")
    assert by["stdout"].ok and by["log_file"].ok and by["rec"].ok
    assert "All systems nominal." in stream.getvalue()
    assert (tmp_path / "logs" / "daily-report.jsonl").exists()


async def test_channels_run_concurrently(tmp_path: Path) -> None:
    class Slow:
        async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
            await asyncio.sleep(0.3)

    d = make_deliverer(tmp_path)
    for name in ("a", "b", "c", "d"):
        d.registry.register(name, Slow())
    started = time.monotonic()
    results = await d.deliver(make_job(delivery=("a", "b", "c", "d")), make_run())
    assert all(r.ok for r in results)
    assert time.monotonic() - started < 0.9


async def test_default_timeout_bounds_routers_without_their_own(tmp_path: Path) -> None:
    class Stuck:
        async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
            await asyncio.Event().wait()

    d = Deliverer(
        DeliveryConfig(),
        data_dir=tmp_path,
        env={},
        default_timeout_seconds=0.1,
        registry=ChannelRegistry(routers={"stuck": Stuck()}, use_entry_points=False),
    )
    [r] = await d.deliver(make_job(delivery=("stuck",)), make_run())
    assert r.error == "timed out after 0.1s"


async def test_deliver_itself_can_be_cancelled(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path, custom={"hang": "tests.test_delivery:HangingChannel"})
    task = asyncio.create_task(d.deliver(make_job(delivery=("hang",)), make_run()))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_repeated_channels_and_blanks_are_delivered_once(tmp_path: Path) -> None:
    stream = io.StringIO()
    d = make_deliverer(tmp_path, stream=stream)
    job = make_job(delivery=("stdout", "Stdout", " ", "log_file", "LogFile", "nope", "nope"))
    results = await d.deliver(job, make_run())
    assert [r.channel for r in results] == ["stdout", "log_file", "nope"]
    assert stream.getvalue().count("daily-report") == 1


async def test_no_channels_means_no_results(tmp_path: Path) -> None:
    assert await make_deliverer(tmp_path).deliver(make_job(), make_run()) == []


async def test_the_deliverer_is_a_delivery_router(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path, custom={"no": "tests.test_delivery:RefusingChannel"})
    assert isinstance(d, DeliveryRouter)
    ok = await d.route("stdout", make_job(), make_run(), "out")
    assert isinstance(ok, Delivered) and ok.attempts == 1
    with pytest.raises(DeliveryError, match="pager service said no"):
        await d.route("no", make_job(), make_run(), "out")
    with pytest.raises(DeliveryFailure, match="unknown delivery channel"):
        await d.route("nowhere", make_job(), make_run(), "out")


async def test_output_defaults_to_the_runs_output(tmp_path: Path) -> None:
    d = make_deliverer(tmp_path, custom={"rec": "tests.test_delivery:RecordingChannel"})
    await d.deliver(make_job(delivery=("rec",)), make_run(output=None))
    await d.deliver(make_job(delivery=("rec",)), make_run(output="given"))
    await d.deliver(make_job(delivery=("rec",)), make_run(output="given"), output="explicit")
    assert [c[3] for c in CALLS] == ["", "given", "explicit"]


# --- secrets -------------------------------------------------------------------------------------


def test_secret_masker() -> None:
    m = SecretMasker(["Bearer tok-123456", "hunter2", None, "", "x"])
    assert m("auth Bearer tok-123456 failed") == "auth *** failed"
    assert m("token tok-123456 echoed") == "token *** echoed"
    assert m("password hunter2!") == "password ***!"
    # a short secret is masked only where it stands alone
    assert m("STARTTLS extension not supported; x") == "STARTTLS extension not supported; ***"
    assert m.mask_value({"a": ["hunter2", 3], "b": {"c": "hunter2"}}) == {
        "a": ["***", 3],
        "b": {"c": "***"},
    }


async def test_secrets_from_config_and_job_are_masked_in_custom_errors(tmp_path: Path) -> None:
    class Leaky:
        async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
            raise RuntimeError(
                "failed with xoxb-SLACK-1 / smtp-PASS-2 / Bearer AUTH-3 / hdr-VALUE-4 / "
                "cfg-TOKEN-5 / https://hooks.slack.com/services/T1/B2/HOOK-6"
            )

    d = Deliverer(
        DeliveryConfig(
            slack_api_token="xoxb-SLACK-1",
            smtp_password="smtp-PASS-2",
            webhook_auth_header="Bearer AUTH-3",
            slack_webhook_url="https://hooks.slack.com/services/T1/B2/HOOK-6",
        ),
        data_dir=tmp_path,
        env={"HDR": "hdr-VALUE-4"},
        registry=ChannelRegistry(routers={"leaky": Leaky()}, use_entry_points=False),
    )
    job = make_job(
        delivery=("leaky",),
        webhook_headers={"X-Key": "${HDR}", "Content-Type": "application/json"},
        delivery_config={"leaky": {"api_token": "cfg-TOKEN-5", "room": "ops"}},
    )
    [r] = await d.deliver(job, make_run())
    text = json.dumps(r.to_dict())
    for secret in ("xoxb-SLACK-1", "smtp-PASS-2", "AUTH-3", "hdr-VALUE-4", "cfg-TOKEN-5", "HOOK-6"):
        assert secret not in text
    assert r.error and r.error.startswith("RuntimeError: failed with ***")
