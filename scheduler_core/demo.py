"""Demo agents and schedules: what `symbi-tui --demo` starts with, offline, in a temporary store.

The agents are real command agents (small Python programs run as subprocesses), so the demo shows
what production looks like: output from stdout, failures with their exit code and stderr.
"""

from __future__ import annotations

__all__ = ["DEMO_AGENTS", "DEMO_EXTRA_JOBS", "DEMO_JOBS", "demo_executor"]

import sys
from typing import Any

from .model import AgentDefinition, RunnerKind
from .runtime.agents import AgentExecutor


def _python(script: str) -> tuple[str, ...]:
    return (sys.executable, "-c", script)


DEMO_AGENTS: dict[str, AgentDefinition] = {
    a.name: a
    for a in (
        AgentDefinition(
            name="reporter-agent",
            runner=RunnerKind.COMMAND,
            command=_python(
                "import os, time; time.sleep(0.2); "
                "print('report for', os.environ['SYMBI_JOB_NAME'] + ': 42 rows')"
            ),
            description="writes a short report",
        ),
        AgentDefinition(
            name="health-checker",
            runner=RunnerKind.COMMAND,
            command=_python("import time; time.sleep(0.05); print('all 3 endpoints healthy')"),
        ),
        AgentDefinition(
            name="unreliable-agent",
            runner=RunnerKind.COMMAND,
            command=_python(
                "import random, sys, time; time.sleep(0.1)\n"
                "if random.random() < 0.7:\n"
                "    sys.stderr.write('upstream returned 503\\n'); sys.exit(2)\n"
                "print('synced 12 records')"
            ),
        ),
        AgentDefinition(
            name="monitor-agent",
            runner=RunnerKind.COMMAND,
            command=_python(
                "import os, time; time.sleep(0.1); i = int(os.environ['SYMBI_ITERATION'])\n"
                "print(f'queue depth {40 // i} (was: ' "
                "+ (os.environ['SYMBI_PREVIOUS_SUMMARY'] or 'unknown') + ')')\n"
                "print('sleep' if i >= 3 else f'SUMMARY: depth {40 // i}, draining')"
            ),
            description="a heartbeat agent: checks a queue until it is calm",
        ),
        AgentDefinition(
            name="deploy-agent",
            runner=RunnerKind.COMMAND,
            command=_python("import time; time.sleep(0.3); print('deployed build 1842')"),
            capabilities=("deployment",),
        ),
        AgentDefinition(
            name="backup-agent",
            runner=RunnerKind.COMMAND,
            command=_python("import time; time.sleep(3); print('backup finished: 1.2 GB')"),
        ),
    )
}


def demo_executor() -> AgentExecutor:
    return AgentExecutor(dict(DEMO_AGENTS))


DEMO_JOBS: list[dict[str, Any]] = [
    {"name": "daily-report", "agent": "reporter-agent", "cron": "0 9 * * *"},
    {"name": "health-probe", "agent": "health-checker", "cron": "* * * * *"},
    {"name": "flaky-job", "agent": "unreliable-agent", "cron": "* * * * *", "max_retries": 3},
    {"name": "backup", "agent": "backup-agent", "cron": "*/2 * * * *", "max_concurrent": 1},
    {"name": "quarter-hour", "agent": "health-checker", "cron": "*/15 * * * *"},
    {
        "name": "weekday-standup",
        "agent": "reporter-agent",
        "cron": "30 9 * * MON-FRI",
        "timezone": "Europe/London",
    },
]

#: what the live demo adds (kept out of DEMO_JOBS, which the screenshot scene is built from): a
#: heartbeat, a run that waits for approval, and a job delivering to a log file
DEMO_EXTRA_JOBS: list[dict[str, Any]] = [
    {
        "name": "queue-monitor",
        "agent": "monitor-agent",
        "cron": "*/2 * * * *",
        "heartbeat": {"enabled": True, "max_iterations": 5},
    },
    {
        "name": "prod-deploy",
        "agent": "deploy-agent",
        "cron": "*/5 * * * *",
        "policy": {"require_approval": True, "approvers": ["ops"], "max_runtime": "5m"},
    },
    {
        "name": "digest",
        "agent": "reporter-agent",
        "cron": "*/10 * * * *",
        "delivery": ["log_file"],
        "session_mode": "shared_persistent",
    },
]
