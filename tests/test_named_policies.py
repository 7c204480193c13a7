"""Named policies merged with a schedule's inline policy: the strictest of each rule, and where
each came from."""

from __future__ import annotations

import dataclasses

import pytest

from scheduler_core.clock import FakeClock
from scheduler_core.config import config_to_toml, load_config_text
from scheduler_core.engine import Engine
from scheduler_core.errors import ConfigError, ValidationError
from scheduler_core.model import AllowedHours, PolicySpec, RunStatus
from scheduler_core.named_policies import NamedPolicy, merge_policies
from tests.conftest import Agents, Harness, make_config

NIGHT = AllowedHours(start="22:00", end="06:00")
EARLY = AllowedHours(start="00:00", end="04:00")


def named(name: str, **rules: object) -> NamedPolicy:
    return NamedPolicy(name=name, spec=PolicySpec(**rules), source="config")  # type: ignore[arg-type]


def test_no_named_policy_leaves_the_inline_one_as_it_is() -> None:
    inline = PolicySpec(require_approval=True, max_runtime_seconds=60, allowed_hours=NIGHT)
    effective = merge_policies(inline, [])
    assert effective.spec == inline and effective.windows == (NIGHT,)
    assert effective.sources == {
        "require_approval": ("inline",),
        "max_runtime_seconds": ("inline",),
        "allowed_hours": ("inline",),
    }


def test_the_strictest_of_each_rule_wins_and_says_where_it_came_from() -> None:
    inline = PolicySpec(max_runtime_seconds=1800, require_capabilities=("deploy",))
    effective = merge_policies(
        inline,
        [
            named(
                "prod",
                require_approval=True,
                max_runtime_seconds=600,
                approval_timeout_seconds=900,
                require_capabilities=("deploy", "prod_write"),
                allowed_environments=("staging", "production"),
                allowed_hours=NIGHT,
            ),
            named(
                "quiet-hours",
                allowed_environments=("production",),
                allowed_hours=EARLY,
                require_agent_pin=True,
            ),
        ],
    )
    spec = effective.spec
    assert spec.require_approval and spec.require_agent_pin
    assert spec.max_runtime_seconds == 600 and spec.approval_timeout_seconds == 900
    assert spec.require_capabilities == ("deploy", "prod_write")
    assert spec.allowed_environments == ("production",)
    assert effective.windows == (NIGHT, EARLY)  # both must hold
    # a limit is said to come from where its value does (the inline 30m did not hold)
    assert effective.sources["max_runtime_seconds"] == ("policy prod",)
    assert effective.sources["allowed_environments"] == ("policy prod", "policy quiet-hours")
    assert effective.sources["require_agent_pin"] == ("policy quiet-hours",)


def test_a_limit_set_alike_by_several_comes_from_each_of_them() -> None:
    inline = PolicySpec(max_runtime_seconds=600, approval_timeout_seconds=60)
    effective = merge_policies(
        inline,
        [
            named("a", max_runtime_seconds=600, approval_timeout_seconds=120),
            named("b", max_runtime_seconds=900, approval_timeout_seconds=60),
        ],
    )
    assert effective.spec.max_runtime_seconds == 600
    assert effective.sources["max_runtime_seconds"] == ("inline", "policy a")
    assert effective.sources["approval_timeout_seconds"] == ("inline", "policy b")


def test_a_policy_that_names_no_approvers_allows_those_of_the_others() -> None:
    effective = merge_policies(
        PolicySpec(require_approval=True),
        [named("release", approvers=("alice", "bob", "role:admin")), named("any")],
    )
    assert effective.spec.approvers == ("alice", "bob", "role:admin")
    narrowed = merge_policies(
        PolicySpec(approvers=("bob", "carol")),
        [named("release", approvers=("alice", "bob"))],
    )
    assert narrowed.spec.approvers == ("bob",)


@pytest.mark.parametrize(
    ("rule", "first", "second"),
    [
        ("allowed_environments", ("staging",), ("production",)),
        ("approvers", ("alice",), ("bob",)),
    ],
)
def test_policies_that_leave_nothing_in_common_are_refused(
    rule: str, first: tuple[str, ...], second: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        merge_policies(PolicySpec(**{rule: first}), [named("other", **{rule: second})])  # type: ignore[arg-type]
    assert caught.value.field == "policies"
    assert "inline and policy other leave no" in str(caught.value)


def test_config_policies_tables_load_and_a_bad_rule_names_its_key() -> None:
    cfg = load_config_text(
        '[policies.prod-window]\nrequire_approval = true\nmax_runtime = "30m"\n'
        'allowed_hours = { start = "00:00", end = "04:00" }\n'
        '[policies.staging-only]\nallowed_environments = ["staging"]\n',
        "symbi.toml",
        env={},
    )
    prod = cfg.policies["prod-window"]
    assert prod.spec.require_approval and prod.spec.max_runtime_seconds == 1800
    assert prod.spec.allowed_hours == EARLY and prod.source == "config:symbi.toml"
    assert cfg.policies["staging-only"].spec.allowed_environments == ("staging",)
    with pytest.raises(ConfigError) as caught:
        load_config_text("[policies.prod]\nrequire_aproval = true\n", "symbi.toml", env={})
    assert "policies.prod" in str(caught.value) and "require_approval" in str(caught.value)


async def test_a_schedule_runs_under_its_named_policies(
    db_path: str, clock: FakeClock, agents: Agents
) -> None:
    policies = {
        "prod-only": NamedPolicy(
            name="prod-only", spec=PolicySpec(allowed_environments=("production",)), source="c"
        ),
        "short": NamedPolicy(name="short", spec=PolicySpec(max_runtime_seconds=5), source="c"),
    }
    config = dataclasses.replace(make_config(db_path), policies=policies)
    engine = Engine(config, executor=agents.executor(), clock=clock)
    service = await engine.start()
    h = Harness(engine, clock, agents)
    try:
        # unknown names are refused when the job is made, with the nearest one
        with pytest.raises(ValidationError, match=r"unknown policy 'prod_only'.*'prod-only'"):
            await service.add_job(
                {"name": "x", "agent": "ok", "cron": "0 9 * * *", "policies": ["prod_only"]}
            )
        # the upstream SDK's policy_ids names them too
        await service.add_job(
            {"name": "deploy", "agent": "ok", "cron": "0 9 * * *", "policy_ids": ["prod-only"]}
        )
        assert (await service.get_job("deploy")).policies == ("prod-only",)
        await service.add_job(
            {"name": "report", "agent": "ok", "cron": "0 9 * * *", "policies": ["short"]}
        )
        await h.to("2026-03-02T09:00:00Z")
        (denied,) = await service.history("deploy")
        assert denied.status is RunStatus.DENIED
        assert "not one of the allowed: production" in (denied.error_message or "")
        (ran,) = await service.history("report")
        assert ran.status is RunStatus.SUCCEEDED
        # one registry: a policy the service learns of gates the next run too
        service.policies["prod-only"] = NamedPolicy(
            name="prod-only", spec=PolicySpec(), source="dsl:policies.symbi:1"
        )
        await h.to("2026-03-03T09:00:00Z")
        assert [r.status for r in await service.history("deploy")] == [
            RunStatus.SUCCEEDED,
            RunStatus.DENIED,
        ]
    finally:
        await engine.stop()


def test_config_show_writes_the_policies_back_as_they_load() -> None:
    text = (
        '[policies.prod]\nrequire_approval = true\nmax_runtime = "30m"\n'
        'approvers = ["alice", "role:admin"]\n'
        'allowed_hours = { start = "00:00", end = "04:00", timezone = "job" }\n'
    )
    cfg = load_config_text(text, "symbi.toml", env={})
    again = load_config_text(config_to_toml(cfg), "shown.toml", env={})
    assert again.policies["prod"].spec == cfg.policies["prod"].spec
