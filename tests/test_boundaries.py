"""The boundaries DESIGN.md draws, checked in one place.

Two kinds of check. Import contracts read the source (every ``import`` statement, including those
inside functions) and fail on an arrow that must not exist: the engine never reaches a front end,
a store holds no scheduling policy, the wire format stays free of the web framework. Lazy-import
checks start a fresh interpreter, import a module, and list what came with it: a light module
must stay light (the CLI must not pay for Textual, a delivery channel for httpx, ...).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# --- import contracts -----------------------------------------------------------------------------

#: (package or module, what it must never import, why)
CONTRACTS = [
    ("scheduler_core", ("textual", "rich", "symbi_tui"), "the engine runs with no terminal"),
    ("scheduler_core.store", ("scheduler_core.scheduling",), "a store holds no scheduling policy"),
    ("scheduler_core.scheduling", ("scheduler_core.api",), "the loop does not know the API"),
    ("scheduler_core.wire", ("fastapi", "starlette", "pydantic"), "clients load the wire format"),
    ("scheduler_core.settings", ("scheduler_core.config", "tomlkit"), "settings are plain data"),
    ("symbi_tui.cli", ("textual",), "the CLI and the daemon never load the console"),
    ("symbi_tui.remote", ("textual", "fastapi"), "a remote backend is a light client"),
]


def _modules(name: str) -> list[Path]:
    path = ROOT / Path(*name.split("."))
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    return [path.with_suffix(".py")]


def _imports(file: Path, package: str) -> set[str]:
    """Every module ``file`` imports, absolute, relative imports resolved against ``package``."""
    tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(("name", "forbidden", "why"), CONTRACTS, ids=[c[0] for c in CONTRACTS])
def test_import_contract(name: str, forbidden: tuple[str, ...], why: str) -> None:
    files = _modules(name)
    assert files and all(f.exists() for f in files), f"{name}: no such module"
    broken = []
    for file in files:
        package = ".".join(file.relative_to(ROOT).with_suffix("").parts[:-1])
        if file.name == "__init__.py":
            package = ".".join(file.relative_to(ROOT).parts[:-1])
        for module in sorted(_imports(file, package)):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                broken.append(f"{file.relative_to(ROOT)} imports {module}")
    assert not broken, f"{name} must not import {', '.join(forbidden)} ({why}):\n" + "\n".join(
        broken
    )


def test_contracts_see_relative_imports() -> None:
    """The checker itself: a relative import resolves to the module it names."""
    file = ROOT / "scheduler_core" / "scheduling" / "loop.py"
    found = _imports(file, "scheduler_core.scheduling")
    assert "scheduler_core.scheduling.rules" in found and "scheduler_core.settings" in found


# --- what a fresh interpreter loads ---------------------------------------------------------------

#: (the modules imported, the top-level packages that must not come with them)
LIGHT = [
    (
        "scheduler_core, scheduler_core.engine, scheduler_core.service, "
        "scheduler_core.scheduling, scheduler_core.store.sqlite",
        ("textual", "rich", "symbi_tui"),
    ),
    ("scheduler_core.delivery", ("textual", "rich", "httpx")),
    ("scheduler_core.runtime.llm", ("textual", "rich", "httpx")),
    ("scheduler_core.agentpin", ("textual", "rich", "httpx")),
    ("symbi_tui, symbi_tui.cli.main, symbi_tui.backend, symbi_tui.format", ("textual", "rich")),
    (
        "symbi_tui.remote, symbi_tui.cli.symbi, symbi_tui.cli.commands, scheduler_core.wire",
        ("textual", "fastapi"),
    ),
]


@pytest.mark.parametrize(("modules", "forbidden"), LIGHT, ids=[m[0].split(",")[0] for m in LIGHT])
def test_importing_stays_light(modules: str, forbidden: tuple[str, ...]) -> None:
    code = (
        f"import sys, {modules}\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


#: what a scheduler must not import before its first fire (issue 23: spawn -> first fire): each
#: is imported at first use, by a delivery, an LLM agent, a DSL file, the API or the console
NOT_ON_THE_START_PATH = (
    "textual",
    "rich",
    "symbi_tui",
    "httpx",
    "cryptography",
    "jwt",
    "tomlkit",
    "opentelemetry",
    "fastapi",
    "starlette",
    "uvicorn",
    "aiosmtplib",
    "email",
    "smtplib",
    "importlib.metadata",
    "difflib",
    "scheduler_core.api",
    "scheduler_core.agentpin",
    "scheduler_core.dsl._loader",
    "scheduler_core.dsl._parser",
    "scheduler_core.delivery.dispatcher",
    "scheduler_core.delivery.email",
    "scheduler_core.delivery.webhook",
    "scheduler_core.runtime.agents",
    "scheduler_core.runtime.llm",
    "scheduler_core.backfill",
    "scheduler_core.run_cancel",
)


def test_starting_a_scheduler_stays_light(tmp_path: Path) -> None:
    """A fresh interpreter starts an Engine (scheduler included) over a SQLite store with a job
    in it, as the cold-start benchmark does: none of the heavy modules come with it."""
    code = f"""
import asyncio, sys
from scheduler_core.config import SchedulerConfig, StoreConfig
from scheduler_core.engine import Engine
from scheduler_core.runtime.base import CallableExecutor

async def main():
    config = SchedulerConfig(store=StoreConfig(url=sys.argv[1]), data_dir=sys.argv[2])
    engine = Engine(config, executor=CallableExecutor({{"a": lambda ctx: None}}))
    service = await engine.start()
    await service.add_job({{"name": "nightly", "agent": "a", "cron": "0 3 * * *"}}, actor="test")
    assert engine.scheduler is not None and engine.scheduler.leadership.is_leader
    await engine.stop()

asyncio.run(main())
heavy = {NOT_ON_THE_START_PATH!r}
print(",".join(sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy)))
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "symbi.db"), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_importing_the_front_ends_leaves_the_environment_alone() -> None:
    """Only starting the console sets Textual's defaults (TEXTUAL_FPS, TEXTUAL_ANIMATIONS)."""
    code = (
        "import os; before = dict(os.environ)\n"
        "import symbi_tui, symbi_tui.cli.main, symbi_tui.cli.symbi, symbi_tui.remote\n"
        "print(sorted(set(os.environ.items()) ^ set(before.items())))\n"
        "import symbi_tui.app\n"
        "print(os.environ.get('TEXTUAL_FPS'), os.environ.get('TEXTUAL_ANIMATIONS'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    assert out.stdout.splitlines() == ["[]", "240 none"], out.stdout + out.stderr
