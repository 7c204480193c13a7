"""Parsing text and loading files: all or nothing, every error reported.

A file with any error yields nothing, and a set of files with any error yields nothing either: a
half-loaded schedule set is worse than none, because the jobs that did load would run without the
ones they were meant to run beside. Every problem found in every file is collected into one
:class:`~scheduler_core.errors.DslError`, in file order.
"""

from __future__ import annotations

__all__ = [
    "DslBundle",
    "DslDocument",
    "ValidationReport",
    "expand_paths",
    "load_dsl_files",
    "parse_dsl",
    "validate_paths",
]

import difflib
import os
import stat
from collections.abc import Collection, Iterable, Mapping
from dataclasses import field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DslError, DslIssue, ValidationError
from ..model import AgentDefinition, JobDefinition
from ..named_policies import NamedPolicy, merge_policies
from ..records import record
from ._build import build_blocks
from ._lexer import tokenize
from ._parser import parse_blocks

if TYPE_CHECKING:
    from ..delivery.checks import DeliveryRules

DSL_SUFFIX = ".symbi"
#: largest source read (characters): thousands of schedules; more belong in several files.
#: Beyond it the text is refused with one issue instead of being tokenised whole.
MAX_SOURCE_CHARS = 1 << 20
#: issues reported per source; the rest are counted in one closing issue
MAX_ISSUES = 200
#: longest issue message; longer ones (a huge value echoed back) are cut
MAX_MESSAGE_CHARS = 400


@record
class DslDocument:
    """The definitions of one DSL source, validated, with where each block starts."""

    path: str
    jobs: tuple[JobDefinition, ...] = ()
    agents: tuple[AgentDefinition, ...] = ()
    policies: tuple[NamedPolicy, ...] = ()
    #: "schedule:NAME" / "agent:NAME" / "policy:NAME" -> (line, col) of the block's keyword
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: "schedule:NAME" -> (line, col) of the value naming its agent
    agent_refs: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: "schedule:NAME" -> (line, col) of its ``after`` value
    after_refs: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: "schedule:NAME" -> (line, col) of the value listing its named policies
    policy_refs: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def job(self, name: str) -> JobDefinition | None:
        return next((job for job in self.jobs if job.name == name), None)

    def agent(self, name: str) -> AgentDefinition | None:
        return next((agent for agent in self.agents if agent.name == name), None)

    @property
    def summary(self) -> str:
        """One line for ``symbi cron validate``: ``daily.symbi: OK, 2 schedules, 1 agent``."""
        counts = [_count(len(self.jobs), "schedule"), _count(len(self.agents), "agent")]
        if self.policies:
            counts.append(_count(len(self.policies), "policy", "policies"))
        return f"{self.path}: OK, " + ", ".join(counts)


@record
class DslBundle:
    """Several files loaded together (names are unique across all of them)."""

    documents: tuple[DslDocument, ...] = ()

    @property
    def jobs(self) -> tuple[JobDefinition, ...]:
        return tuple(job for doc in self.documents for job in doc.jobs)

    @property
    def agents(self) -> tuple[AgentDefinition, ...]:
        return tuple(agent for doc in self.documents for agent in doc.agents)

    @property
    def policies(self) -> tuple[NamedPolicy, ...]:
        return tuple(policy for doc in self.documents for policy in doc.policies)

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(doc.path for doc in self.documents)

    def job(self, name: str) -> JobDefinition | None:
        return next((job for job in self.jobs if job.name == name), None)

    def agent(self, name: str) -> AgentDefinition | None:
        return next((agent for agent in self.agents if agent.name == name), None)

    def location(self, key: str) -> tuple[str, int, int] | None:
        """``(path, line, col)`` of ``"schedule:NAME"``, ``"agent:NAME"`` or ``"policy:NAME"``."""
        for doc in self.documents:
            if key in doc.positions:
                line, col = doc.positions[key]
                return doc.path, line, col
        return None

    def after_location(self, name: str) -> tuple[str, int, int] | None:
        """``(path, line, col)`` of schedule ``name``'s ``after`` value (else of its block)."""
        return self.ref_location(name, "after")

    def ref_location(self, name: str, field: str) -> tuple[str, int, int] | None:
        """``(path, line, col)`` of schedule ``name``'s ``after``, ``agent`` or ``policies``
        value (else, or for any other field, of its block)."""
        key = f"schedule:{name}"
        for doc in self.documents:
            refs = {"after": doc.after_refs, "agent": doc.agent_refs, "policies": doc.policy_refs}
            if key in refs.get(field, ()):
                line, col = refs[field][key]
                return doc.path, line, col
        return self.location(key)


@record
class ValidationReport:
    """What ``symbi cron validate`` prints for one file."""

    path: str
    ok: bool
    summary: str
    issues: tuple[DslIssue, ...] = ()
    schedules: int = 0
    agents: int = 0


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _sorted(issues: Iterable[DslIssue]) -> list[DslIssue]:
    seen: set[DslIssue] = set()
    unique = [i for i in issues if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
    return sorted(unique, key=lambda i: (i.line, i.col))


def _printable(message: str) -> str:
    """The message with control and other unprintable characters escaped (``\\x1b``), so that
    text from the file cannot drive the terminal that shows it, and cut to a sane length."""
    if not message.isprintable():
        message = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in message)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return message


def _bounded(issues: list[DslIssue]) -> list[DslIssue]:
    """Printable messages, and at most MAX_ISSUES issues plus one that counts the rest."""
    out = [
        i
        if i.message.isprintable() and len(i.message) <= MAX_MESSAGE_CHARS
        else DslIssue(i.path, i.line, i.col, _printable(i.message))
        for i in issues[:MAX_ISSUES]
    ]
    if len(issues) > MAX_ISSUES:
        nxt = issues[MAX_ISSUES]
        more = len(issues) - MAX_ISSUES
        out.append(
            DslIssue(nxt.path, nxt.line, nxt.col, f"... and {more} more problem(s) not shown")
        )
    return out


def _analyse(
    text: str,
    path: str,
    env: Mapping[str, str] | None,
    now: datetime | None,
    rules: DeliveryRules | None = None,
) -> tuple[DslDocument, list[DslIssue]]:
    if len(text) > MAX_SOURCE_CHARS:
        message = (
            f"file too large: {len(text)} characters (at most {MAX_SOURCE_CHARS}); "
            "split the schedules over several files"
        )
        return DslDocument(path=path), [DslIssue(path, 1, 1, message)]
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n")  # Windows line endings read like Unix ones
    tokens, issues = tokenize(text, path)
    blocks, syntax = parse_blocks(tokens, path)
    built = build_blocks(blocks, path, now=now, env=os.environ if env is None else env, rules=rules)
    all_issues = _bounded(_sorted([*issues, *syntax, *built.issues]))
    doc = DslDocument(
        path=path,
        jobs=tuple(built.jobs),
        agents=tuple(built.agents),
        policies=tuple(built.policies),
        positions=dict(built.positions),
        agent_refs=dict(built.agent_refs),
        after_refs=dict(built.after_refs),
        policy_refs=dict(built.policy_refs),
    )
    return doc, all_issues


def parse_dsl(
    text: str,
    path: str = "<string>",
    *,
    env: Mapping[str, str] | None = None,
    now: datetime | None = None,
    rules: DeliveryRules | None = None,
) -> DslDocument:
    """Parse and validate DSL source; raise one DslError listing every problem.

    ``env`` supplies agent blocks' ``${VAR}`` values (default: the process environment); a
    schedule keeps its ``${VAR}`` as written, and ``rules`` (the installation's channels and
    ``[secrets]``) checks them. With ``now``, an ``at`` instant that is not in the future is
    an error. Jobs get ``source="dsl:PATH"``.
    """
    if not isinstance(text, str):
        raise DslError([DslIssue(path, 1, 1, f"expected text, got {type(text).__name__}")])
    doc, issues = _analyse(text, path, env, now, rules)
    if issues:
        raise DslError(issues)
    return doc


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[tuple[str, Path]], list[DslIssue]]:
    """Files to read: each file as given, each directory's ``*.symbi`` entries in name order
    (one that is not a regular file is read too, and refused there with a clear issue)."""
    files: list[tuple[str, Path]] = []
    issues: list[DslIssue] = []
    seen: set[Path] = set()

    def add(display: str, p: Path) -> None:
        try:
            real = p.resolve()
        except (OSError, RuntimeError):  # a symlink loop: reported when it is read
            real = p.absolute()
        if real not in seen:  # a file named twice (or also through its directory) loads once
            seen.add(real)
            files.append((display, p))

    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            for child in sorted(p.glob(f"*{DSL_SUFFIX}")):
                add(str(child), child)
        elif p.exists() or p.is_symlink():
            add(str(raw), p)
        else:
            issues.append(DslIssue(str(raw), 1, 1, "no such file or directory"))
    return files, issues


#: the most bytes a source may have: MAX_SOURCE_CHARS characters of up to 4 bytes each
MAX_SOURCE_BYTES = 4 * MAX_SOURCE_CHARS


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _read(display: str, p: Path) -> tuple[str | None, DslIssue | None]:
    """The file's text, if it is a regular file (a symlink to one is) of at most
    MAX_SOURCE_BYTES: a device, a pipe or a directory is refused before a byte is read, and
    no more than the limit plus one byte is ever read (a size on disk can lie: /dev/zero's is 0)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)  # a FIFO must not block
    try:
        fd = os.open(p, flags)
    except OSError as exc:
        return None, DslIssue(display, 1, 1, f"cannot read file: {exc.strerror or exc}")
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            message = f"not a regular file ({_file_kind(mode)}): give a {DSL_SUFFIX} text file"
            return None, DslIssue(display, 1, 1, message)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_SOURCE_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_SOURCE_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_SOURCE_BYTES:
            message = (
                f"file too large: more than {MAX_SOURCE_BYTES} bytes (at most "
                f"{MAX_SOURCE_CHARS} characters); split the schedules over several files"
            )
            return None, DslIssue(display, 1, 1, message)
        return b"".join(chunks).decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, DslIssue(display, 1, 1, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        return None, DslIssue(display, 1, 1, f"cannot read file: {exc.strerror or exc}")
    finally:
        os.close(fd)


def _check_policies(
    docs: list[DslDocument], known: Mapping[str, NamedPolicy] | None
) -> list[DslIssue]:
    """Every named policy a schedule lists is defined (in the files, or ``known``: the
    config's and the store's), and merged with its inline policy leaves a run some way to pass."""
    if known is None:
        return []
    defined = {**known, **{p.name: p for doc in docs for p in doc.policies}}
    issues: list[DslIssue] = []
    for doc in docs:
        for job in doc.jobs:
            if not job.policies:
                continue
            key = f"schedule:{job.name}"
            line, col = doc.policy_refs.get(key, doc.positions.get(key, (1, 1)))
            missing = [name for name in job.policies if name not in defined]
            for name in missing:
                close = difflib.get_close_matches(name, sorted(defined), n=1, cutoff=0.6)
                hint = (
                    f' (did you mean "{close[0]}"?)'
                    if close
                    else f" (define it with policy {name} {{ ... }} or [policies.{name}])"
                )
                issues.append(
                    DslIssue(
                        doc.path, line, col, f'schedule "{job.name}": unknown policy "{name}"{hint}'
                    )
                )
            if missing:
                continue
            try:
                merge_policies(job.policy, [defined[name] for name in job.policies])
            except ValidationError as exc:
                issues.append(DslIssue(doc.path, line, col, f'schedule "{job.name}": {exc.reason}'))
    return issues


def _check_together(
    docs: list[DslDocument],
    known_agents: Collection[str] | None,
    known_policies: Mapping[str, NamedPolicy] | None = None,
) -> list[DslIssue]:
    """Checks across files: names unique everywhere, every schedule's agent exists, and so do
    the named policies it lists."""
    issues: list[DslIssue] = []
    first: dict[str, tuple[str, int, int]] = {}
    for doc in docs:
        for key, (line, col) in doc.positions.items():
            if key in first:
                path0, line0, col0 = first[key]
                kind, name = key.split(":", 1)
                issues.append(
                    DslIssue(
                        doc.path,
                        line,
                        col,
                        f'duplicate {kind} name "{name}" (first defined at {path0}:{line0}:{col0})',
                    )
                )
            else:
                first[key] = (doc.path, line, col)
    issues.extend(_loops(docs))
    if known_agents is not None:
        defined = {agent.name for doc in docs for agent in doc.agents} | set(known_agents)
        for doc in docs:
            for job in doc.jobs:
                if job.agent in defined:
                    continue
                line, col = doc.agent_refs.get(
                    f"schedule:{job.name}", doc.positions.get(f"schedule:{job.name}", (1, 1))
                )
                close = difflib.get_close_matches(job.agent, sorted(defined), n=1, cutoff=0.6)
                hint = (
                    f' (did you mean "{close[0]}"?)'
                    if close
                    else f" (define it with agent {job.agent} {{ ... }} or [agents.{job.agent}])"
                )
                issues.append(
                    DslIssue(
                        doc.path,
                        line,
                        col,
                        f'schedule "{job.name}": unknown agent "{job.agent}"{hint}',
                    )
                )
    return issues + _check_policies(docs, known_policies)


def _loops(docs: list[DslDocument]) -> list[DslIssue]:
    """Schedules that come after themselves, directly or around a loop of the files' schedules
    (a name the files do not define may be a stored job's: the service checks those)."""
    jobs = {job.name: job for doc in docs for job in doc.jobs}
    issues: list[DslIssue] = []
    for doc in docs:
        for job in doc.jobs:
            if job.after is None:
                continue
            path = [job.name]
            current: str | None = job.after
            while current is not None and current in jobs and len(path) <= len(jobs):
                path.append(current)
                if current == job.name:
                    break
                current = jobs[current].after
            if path[-1] != job.name or len(path) < 2:
                continue
            if len(path) == 2:
                message = f'schedule "{job.name}": after: a job cannot come after itself'
            else:
                message = f'schedule "{job.name}": after: makes a loop: {" after ".join(path)}'
            line, col = doc.after_refs.get(
                f"schedule:{job.name}", doc.positions.get(f"schedule:{job.name}", (1, 1))
            )
            issues.append(DslIssue(doc.path, line, col, message))
    return issues


def _load(
    paths: Iterable[str | Path],
    env: Mapping[str, str] | None,
    known_agents: Collection[str] | None,
    now: datetime | None,
    rules: DeliveryRules | None = None,
    known_policies: Mapping[str, NamedPolicy] | None = None,
) -> tuple[list[str], list[DslDocument], dict[str, list[DslIssue]], list[str]]:
    """Every file analysed: (file order, good documents, issues by path, empty directories)."""
    paths = list(paths)
    files, missing = expand_paths(paths)
    order: list[str] = []
    by_path: dict[str, list[DslIssue]] = {}
    docs: list[DslDocument] = []
    for issue in missing:
        order.append(issue.path)
        by_path.setdefault(issue.path, []).append(issue)
    for display, p in files:
        order.append(display)
        issues = by_path.setdefault(display, [])
        text, problem = _read(display, p)
        if problem is not None:
            issues.append(problem)
            continue
        assert text is not None
        doc, found = _analyse(text, display, env, now, rules)
        issues.extend(found)
        docs.append(doc)
    for issue in _check_together(docs, known_agents, known_policies):
        by_path.setdefault(issue.path, []).append(issue)
    for path, issues in by_path.items():
        by_path[path] = _sorted(issues)
    empty = [str(raw) for raw in paths if Path(raw).expanduser().is_dir() and str(raw) not in order]
    empty = [d for d in empty if not any(Path(d).expanduser().glob(f"*{DSL_SUFFIX}"))]
    return list(dict.fromkeys(order)), docs, by_path, empty


def load_dsl_files(
    paths: Iterable[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    known_agents: Collection[str] | None = None,
    now: datetime | None = None,
    rules: DeliveryRules | None = None,
    known_policies: Mapping[str, NamedPolicy] | None = None,
) -> DslBundle:
    """Load files and directories (their ``*.symbi`` files, sorted) all or nothing.

    Beyond each file's own checks: schedule and agent names are unique across all files, and with
    ``known_agents`` (agents from config or the store) every schedule's agent must be defined in
    the files or be one of them; with ``rules``, every schedule's channels and ``${VAR}`` are
    checked (see :class:`~scheduler_core.delivery.checks.DeliveryRules`); with
    ``known_policies`` (the config's and the store's), every named policy a schedule lists must
    be defined in the files or be one of them. Any problem anywhere raises one DslError listing
    all of them.
    """
    order, docs, by_path, _ = _load(paths, env, known_agents, now, rules, known_policies)
    issues = [issue for path in order for issue in by_path.get(path, [])]
    if issues:
        raise DslError(issues)
    return DslBundle(tuple(docs))


def validate_paths(
    paths: Iterable[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    known_agents: Collection[str] | None = None,
    now: datetime | None = None,
    rules: DeliveryRules | None = None,
    known_policies: Mapping[str, NamedPolicy] | None = None,
) -> list[ValidationReport]:
    """Check files without loading them: one report per file (``symbi cron validate``)."""
    order, docs, by_path, empty = _load(paths, env, known_agents, now, rules, known_policies)
    by_doc = {doc.path: doc for doc in docs}
    reports: list[ValidationReport] = []
    for path in order:
        issues = tuple(by_path.get(path, []))
        doc = by_doc.get(path)
        if issues:
            summary = f"{path}: {_count(len(issues), 'error')}"
            reports.append(ValidationReport(path=path, ok=False, summary=summary, issues=issues))
        else:
            assert doc is not None
            reports.append(
                ValidationReport(
                    path=path,
                    ok=True,
                    summary=doc.summary,
                    schedules=len(doc.jobs),
                    agents=len(doc.agents),
                )
            )
    for directory in empty:
        reports.append(
            ValidationReport(path=directory, ok=True, summary=f"{directory}: no *.symbi files")
        )
    return reports
