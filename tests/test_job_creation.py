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


def test_a_shape_is_the_data_but_its_name_by_exact_value_and_kind() -> None:
    from scheduler_core.creation import shape_key

    one = shape_key({"name": "a", "agent": "x", "max_retries": 1, "delivery": ["stdout"]})
    assert one == shape_key({"name": "b", "agent": "x", "max_retries": 1, "delivery": ["stdout"]})
    assert one != shape_key(
        {"name": "b", "agent": "x", "max_retries": True, "delivery": ["stdout"]}
    )
    assert one != shape_key({"name": "b", "agent": "x", "max_retries": 1.0, "delivery": ["stdout"]})
    assert one != shape_key({"name": "b", "agent": "x", "max_retries": 1, "delivery": ("stdout",)})
    assert one == shape_key({"agent": "x", "name": "b", "max_retries": 1, "delivery": ["stdout"]})
    assert one != shape_key({"name": "b", "max_retries": 1, "agent": "x", "delivery": ["stdout"]})
    assert shape_key({"name": "a", "jitter": 0.0}) != shape_key({"name": "b", "jitter": -0.0})
    assert shape_key({"name": "a", "jitter": 0.5}) == shape_key({"name": "b", "jitter": 0.5})
    assert shape_key({"name": "a", "policy": {"max_runtime": "1m"}}) is None
    assert shape_key({"name": 7, "agent": "x"}) is None


async def test_jobs_of_one_shape_in_a_batch_are_what_one_by_one_makes(harness: Harness) -> None:
    """A batch's jobs of one shape are checked once: each still has its own name and id, and
    every other field is what the same data gives a job added alone."""
    from scheduler_core.jobspec import spec_to_json

    data = {"agent": "a", "cron": "15 9 * * 1-5", "delivery": ["stdout"], "max_retries": 2}
    alone = await harness.service.add_job({"name": "alone", **data})
    batch = await harness.service.add_jobs([{"name": f"b-{i}", **data} for i in range(3)])
    assert [j.name for j in batch] == ["b-0", "b-1", "b-2"]
    assert len({j.id for j in batch} | {alone.id}) == 4
    for job in batch:
        stored = await harness.service.get_job(job.name)
        assert stored == job
        assert spec_to_json(stored).replace(job.name, "alone") == spec_to_json(alone)
        assert (stored.next_run_at, stored.status) == (alone.next_run_at, alone.status)
    assert await _audited(harness, "CronJobCreated") == 4


async def test_a_batch_of_one_shape_still_checks_every_name_and_reports_every_bad_job(
    harness: Harness,
) -> None:
    good = {"agent": "a", "cron": "0 9 * * *"}
    items = [{"name": "ok-1", **good}, {"name": "../bad", **good}, {"name": "ok-2", **good}]
    items += [{"name": f"c-{i}", "agent": "a", "cron": "0 9 * *"} for i in range(2)]
    with pytest.raises(ValidationError) as caught:
        await harness.service.add_jobs(items)
    assert [e.field for e in caught.value.errors] == ["[1].name", "[3].cron", "[4].cron"]
    assert (await harness.service.list_jobs()).total == 0
    assert await _audited(harness, "CronJobCreated") == 0


def test_checked_runs_a_check_once_per_kind_of_definition_and_never_keeps_a_failure() -> None:
    from scheduler_core.creation import Checked
    from scheduler_core.model import JobDefinition

    seen: list[str] = []

    def check(job: JobDefinition) -> None:
        seen.append(job.name)
        if job.agent == "bad":
            raise ValidationError("unknown agent", field="agent")

    checked = Checked(check)
    checked(JobDefinition(name="a1", agent="a", cron="0 9 * * *", id="1"))
    checked(JobDefinition(name="a2", agent="a", cron="5 9 * * *", id="2"))  # alike: not again
    checked(JobDefinition(name="a3", agent="a", delivery=("stdout",)))  # a field it reads
    checked(JobDefinition(name="a4", agent="a", webhook_headers={"X": "${T}"}))
    checked(JobDefinition(name="a5", agent="a", webhook_headers={"X": "${T}"}))
    nested = {"ch": {"url": "https://x/${T}"}}
    checked(JobDefinition(name="n1", agent="a", delivery_config=nested))  # no key: each
    checked(JobDefinition(name="n2", agent="a", delivery_config=nested))
    for name in ("b1", "b2"):  # a failure is checked (and reported) for every job
        with pytest.raises(ValidationError, match="unknown agent"):
            checked(JobDefinition(name=name, agent="bad"))
    assert seen == ["a1", "a3", "a4", "n1", "n2", "b1", "b2"]


async def test_a_bulk_load_of_alike_definitions_still_refuses_the_one_that_differs(
    harness: Harness,
) -> None:
    from scheduler_core.model import JobDefinition

    jobs = [JobDefinition(name=f"j{i}", agent="a", cron="0 9 * * *") for i in range(5)]
    jobs.insert(3, JobDefinition(name="odd", agent="a", cron="0 9 * * *", policies=("nope",)))
    with pytest.raises(ValidationError, match="nope"):
        await harness.service.apply_definitions(jobs)
    assert not (await harness.service.list_jobs()).jobs


def test_the_collector_pause_gives_the_collector_back_as_it_found_it() -> None:
    import gc

    from scheduler_core.collector import collector_paused

    assert gc.isenabled()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
        with pytest.raises(ValueError), collector_paused():
            raise ValueError("a bulk load that failed")
        assert gc.isenabled()
        gc.disable()  # someone else's choice: kept, during and after
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_what_a_paused_load_keeps_goes_to_the_oldest_generation_and_frozen_objects_stay() -> None:
    import gc

    from scheduler_core.collector import collector_paused

    def oldest() -> set[int]:
        return {id(o) for o in gc.get_objects(generation=2)}

    # (another test of this process may have frozen the console's objects: then only the
    # second half applies, and nothing is unfrozen here)
    ours = gc.get_freeze_count() == 0
    if ours:
        with collector_paused():
            kept = [[] for _ in range(1000)]
        assert id(kept) in oldest() and id(kept[0]) in oldest()
        assert gc.get_freeze_count() == 0
        gc.freeze()  # as the console does once: a pause leaves what is frozen frozen
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            more = [[] for _ in range(1000)]
        assert gc.get_freeze_count() == frozen and more
    finally:
        if ours:
            gc.unfreeze()
