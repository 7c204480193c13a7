"""Creating jobs in bulk and one at a time: the fast paths keep every check, every audit event
and all-or-nothing (scheduler_core.service, scheduler_core.creation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler_core.errors import ConflictError, DslError, ValidationError

from .conftest import Harness


async def _audited(harness: Harness, kind: str) -> int:
    return len(await harness.service.audit(type=kind, limit=100_000))


async def test_a_taken_name_is_refused_by_add_job_and_nothing_is_written(
    harness: Harness,
) -> None:
    first = await harness.service.add_job({"name": "x", "agent": "a", "cron": "0 9 * * *"})
    with pytest.raises(ConflictError, match="a job named 'x' already exists"):
        await harness.service.add_job({"name": "x", "agent": "b", "cron": "* * * * *"})
    (stored,) = (await harness.service.list_jobs()).jobs
    assert (stored.id, stored.agent) == (first.id, "a")
    assert await _audited(harness, "CronJobCreated") == 1


async def test_a_chained_job_with_a_taken_name_hears_of_the_name_first(harness: Harness) -> None:
    await harness.service.add_job({"name": "x", "agent": "a", "cron": "0 9 * * *"})
    with pytest.raises(ConflictError, match="a job named 'x' already exists"):
        await harness.service.add_job({"name": "x", "agent": "a", "after": "nowhere"})


async def test_apply_specs_looks_up_names_in_batches_and_sorts_them_right(
    harness: Harness,
) -> None:
    """More names than one look-up query holds (500): created, updated and unchanged each land
    where they belong, one audit event per job created or changed."""
    specs = [{"name": f"j-{i:04d}", "agent": "a", "cron": "0 9 * * *"} for i in range(1_200)]
    first = await harness.service.apply_specs(specs[:700])
    assert len(first.created) == 700
    again = [dict(s) for s in specs]
    for spec in again[600:650]:
        spec["cron"] = "0 10 * * *"
    result = await harness.service.apply_specs(again)
    assert result.created == [s["name"] for s in specs[700:]]
    assert result.updated == [s["name"] for s in specs[600:650]]
    assert len(result.unchanged) == 650
    assert (await harness.service.list_jobs()).total == 1_200
    assert await _audited(harness, "CronJobCreated") == 1_200
    assert await _audited(harness, "CronJobUpdated") == 50
    job = await harness.service.get_job("j-0620")
    assert job.cron == "0 10 * * *"


async def test_apply_specs_is_all_or_nothing_and_names_the_bad_item(harness: Harness) -> None:
    specs = [{"name": f"j-{i}", "agent": "a", "cron": "0 9 * * *"} for i in range(600)]
    specs[555] = {"name": "j-555", "agent": "a", "cron": "0 9 * * * *"}
    with pytest.raises(ValidationError) as caught:
        await harness.service.apply_specs(specs)
    assert [e.field for e in caught.value.errors] == ["jobs[555].cron"]
    assert (await harness.service.list_jobs()).total == 0
    assert await _audited(harness, "CronJobCreated") == 0


def _write(path: Path, first: int, count: int, *, cron: str = "0 9 * * *") -> None:
    path.write_text(
        "".join(
            f'schedule j-{i} {{\n  agent: "a"\n  cron: "{cron}"\n}}\n'
            for i in range(first, first + count)
        )
    )


async def test_a_directory_of_files_loads_all_or_nothing_with_its_positions(
    harness: Harness, tmp_path: Path
) -> None:
    """``cron add --file DIR``: every file's schedules in one apply; a mistake in one file is
    reported at its file, line and column, and no file's schedules are stored."""
    _write(tmp_path / "a.symbi", 0, 300)
    _write(tmp_path / "b.symbi", 300, 300)
    bad = tmp_path / "c.symbi"
    _write(bad, 600, 3)
    bad.write_text(bad.read_text().replace('cron: "0 9 * * *"', 'cron: "0 9 * *"', 1))
    with pytest.raises(DslError) as caught:
        await harness.service.load_dsl([str(tmp_path)], register_agents=True)
    assert [str(i).split(": ")[0] for i in caught.value.issues] == [f"{bad}:3:9"]
    assert (await harness.service.list_jobs()).total == 0
    bad.unlink()
    result = await harness.service.load_dsl([str(tmp_path)], register_agents=True)
    assert len(result.created) == 600
    assert await _audited(harness, "CronJobCreated") == 600
    again = await harness.service.load_dsl([str(tmp_path)], register_agents=True)
    assert (len(again.created), len(again.unchanged)) == (0, 600)


async def test_apply_specs_names_each_name_given_twice_once(harness: Harness) -> None:
    specs = [{"name": f"j-{i % 900}", "agent": "a", "cron": "0 9 * * *"} for i in range(1_000)]
    with pytest.raises(ValidationError) as caught:
        await harness.service.apply_specs(specs)
    names = ", ".join(sorted(f"j-{i}" for i in range(100)))
    assert str(caught.value) == f"jobs: named more than once: {names}"
    assert (await harness.service.list_jobs()).total == 0
