"""A page of jobs as the JSON body ``GET /api/v1/schedule`` sends, each job encoded once.

A job is sent exactly as ``response_model=JobOut`` would send it (``job_to_dict`` in JobOut's
field order, the extra fields after), encoded as ``JSONResponse`` encodes (compact, UTF-8, no
NaN), but without validating the dicts again and without encoding a job that was encoded
before: the store hands back the same :class:`JobDefinition` object for a row unchanged in
every column, and its bytes are kept beside it (the object itself is held, so its ``id`` cannot
be reused by another while its entry lives).

A page is encoded from the store's rows (:meth:`JobJson.row`, ``JobQuery.encode``), not from
built jobs: a job whose definition holds only the fields JobOut shows (name, agent, schedule,
zone, session mode, delivery channels, concurrency, catch-up: no secret among them) is written
straight from its row and its definition's JSON; any other is built and shaped by
``job_to_dict`` as before (secrets masked). Both give the same bytes (tests/test_api_job_json.py).
"""

from __future__ import annotations

__all__ = ["JobJson"]

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from ..clock import format_instant, parse_instant
from ..model import CatchUp, JobDefinition, JobStatus, RunStatus, SessionMode
from ..store._rows import job_from_row
from ..wire import job_to_dict
from .schemas import JobOut

#: jobs whose bytes are kept (a page polled again, walked by several clients); emptied when full
_KEEP = 4096
#: the definition fields a job's row is written from directly: each is shown as stored (the
#: enums' values, the instant as format_instant writes it); a definition with any other field
#: (secrets, policies, heartbeat, alerts...) is built and shaped by ``job_to_dict``
_DIRECT = frozenset(
    {
        "name",
        "agent",
        "cron",
        "at",
        "after",
        "timezone",
        "session_mode",
        "delivery",
        "max_concurrent",
        "catch_up",
    }
)
_SESSION_MODES = frozenset(m.value for m in SessionMode)
_CATCH_UPS = frozenset(m.value for m in CatchUp)
_JOB_STATUSES = frozenset(m.value for m in JobStatus)
_RUN_STATUSES = frozenset(m.value for m in RunStatus)
#: the defaults JobDefinition gives the fields above
_DEFAULT = JobDefinition(name="", agent="")
_TIMEZONE, _MAX_CONCURRENT = _DEFAULT.timezone, _DEFAULT.max_concurrent
_SESSION_MODE, _CATCH_UP = _DEFAULT.session_mode.value, _DEFAULT.catch_up.value
_loads = json.loads
#: a JSON string the stored definition holds as it is shown: no escape, quote nor control
#: character, so ``json.loads`` reads it as its text and ``_quote`` writes that text back the
#: same (the stored definition is ASCII-only, so any other character there is an escape)
_VERBATIM = r'("[^"\\\x00-\x1f]*")'
#: a cron job's definition as spec_to_json stores it with only these fields (compact, sorted):
#: written from the text itself, without json.loads (most of a row's cost)
_PLAIN_CRON = re.compile(
    rf'\{{"agent":{_VERBATIM},"cron":{_VERBATIM},"name":{_VERBATIM}(?:,"timezone":{_VERBATIM})?\}}'
)


def _unencodable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))``, as
    ``JSONResponse`` renders, with the C encoder made once rather than per call."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    encode = make(
        None,  # markers: jobs hold no cycles
        _unencodable,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )
    return lambda value: "".join(encode(value, 0))


@lru_cache(maxsize=1)
def _job_out_template() -> dict[str, Any]:
    """JobOut's fields in order, each with the default an optional one takes (None for the
    required ones, which ``job_to_dict`` always gives)."""
    return {
        name: None if field.is_required() else field.get_default(call_default_factory=True)
        for name, field in JobOut.model_fields.items()
    }


def job_out(job: JobDefinition) -> dict[str, Any]:
    """A job exactly as ``response_model=JobOut`` would send it, without validating the dict
    again (a page of jobs is already in that shape: this halves the list's cost): JobOut's
    fields first, in its order (``update`` keeps a key where it is), then the others in
    ``job_to_dict``'s order."""
    out = _job_out_template().copy()
    out.update(job_to_dict(job))
    return out


_quote = json.encoder.encode_basestring  # a str as JSON with ensure_ascii=False (C)


def _text(value: Any) -> str | None:
    """A str or None as JSON; None for any other type (the caller falls back)."""
    if value is None:
        return "null"
    return _quote(value) if type(value) is str else None


def _number(value: Any) -> str | None:
    """An int (not a bool) as JSON; None for any other type."""
    return int.__repr__(value) if type(value) is int else None


#: the defaults of a plain cron job's fields, as ``_text`` and ``_number`` write them
_TIMEZONE_JSON, _CONCURRENT_JSON = _quote(_TIMEZONE), int.__repr__(_MAX_CONCURRENT)


def direct_json(row: Sequence[Any], read: Callable[[Any], datetime | None]) -> str | None:
    """The JSON text of ``job_out(job_from_row(row, read))`` (encoded as ``JobJson`` encodes)
    for a job whose definition holds only ``_DIRECT`` fields, of the types they are stored as,
    written without building the job; None for any other job.

    The instants are format_instant's text (digits, ``-:.TZ``: nothing to escape), the enums'
    values plain words: they are written as they are; every other text is quoted as the
    encoder quotes it."""
    status, last_status = row[3], row[7] or None
    if status not in _JOB_STATUSES or (
        last_status is not None and last_status not in _RUN_STATUSES
    ):
        return None
    id_, error, runs, failures, source = row[0], row[8], row[9], row[10], row[13]
    if type(id_) is not str or type(runs) is not int or type(failures) is not int:
        return None  # (an exact int is written by the f-string as _number writes it)
    if error is not None:
        if type(error) is not str:
            return None
        error = _quote(error)
    if source is not None:
        if type(source) is not str:
            return None
        source = _quote(source)
    definition = row[4]
    plain = _PLAIN_CRON.fullmatch(definition) if type(definition) is str else None
    if plain is not None:
        # {"agent","cron","name"[,"timezone"]}: its texts are written as they are stored
        agent, cron, name, timezone = plain.groups()
        middle = _PLAIN_MIDDLE if timezone is None else _middle("null", "null", timezone)
    else:
        written = _parsed(definition)
        if written is None:
            return None
        name, agent, cron, middle = written
    instants = _INSTANTS
    next_run = instants.get(row[5]) or _instant_json(row[5], read)
    return (
        f'{{"id":{_quote(id_)},"name":{name},"agent":{agent},"agent_id":{agent},"cron":{cron},'
        f'"cron_expr":{cron},{middle},"status":"{status}",'
        f'"next_run_at":{next_run},"next_run":{next_run},'
        f'"last_run_at":{instants.get(row[6]) or _instant_json(row[6], read)},'
        f'"last_run_status":{"null" if last_status is None else f"{_Q}{last_status}{_Q}"},'
        f'"last_error":{"null" if error is None else error},"run_count":{runs},'
        f'"failure_count":{failures},'
        f'"created_at":{instants.get(row[11]) or _instant_json(row[11], read)},'
        f'"updated_at":{instants.get(row[12]) or _instant_json(row[12], read)},'
        f'"source":{"null" if source is None else source}}}'
    )


def _middle(
    at: str,
    after: str,
    timezone: str,
    session_mode: str = _SESSION_MODE,
    deliveries: str = "[]",
    concurrent: str = _CONCURRENT_JSON,
    catch_up: str = _CATCH_UP,
) -> str:
    """A job's fields from ``at`` to ``catch_up``, each already JSON (the enums' values bare)."""
    return (
        f'"at":{at},"after":{after},"timezone":{timezone},'
        f'"session_mode":"{session_mode}","delivery":{deliveries},'
        f'"max_concurrent":{concurrent},"catch_up":"{catch_up}"'
    )


#: a plain cron job's fields from ``at`` to ``catch_up``: every one its default
_PLAIN_MIDDLE = _middle("null", "null", _TIMEZONE_JSON)


def _parsed(definition: Any) -> tuple[str, str, str, str] | None:
    """A definition other than a plain cron job's, parsed: its name, agent and cron as JSON and
    its fields from ``at`` to ``catch_up`` (``_middle``); None if it holds any field or type
    ``direct_json`` does not write."""
    d = _loads(definition)
    if type(d) is not dict or not d.keys() <= _DIRECT:
        return None
    session_mode = d.get("session_mode", _SESSION_MODE)
    catch_up = d.get("catch_up", _CATCH_UP)
    if session_mode not in _SESSION_MODES or catch_up not in _CATCH_UPS:
        return None
    delivery = d.get("delivery")
    if delivery is None or delivery == []:
        deliveries = "[]"
    elif type(delivery) is list and all(type(c) is str for c in delivery):
        deliveries = "[" + ",".join([_quote(c) for c in delivery]) + "]"
    else:
        return None
    at = d.get("at")
    if at is not None:
        if type(at) is not str:
            return None
        at = _quote(format_instant(parse_instant(at)))
    else:
        at = "null"
    name, agent, cron = _text(d.get("name")), _text(d.get("agent")), _text(d.get("cron"))
    after, timezone = _text(d.get("after")), _text(d.get("timezone", _TIMEZONE))
    concurrent = _number(d.get("max_concurrent", _MAX_CONCURRENT))
    if (
        name is None
        or agent is None
        or cron is None
        or after is None
        or timezone is None
        or concurrent is None
    ):
        return None
    if "name" not in d or "agent" not in d:
        return None
    return (
        name,
        agent,
        cron,
        _middle(at, after, timezone, session_mode, deliveries, concurrent, catch_up),
    )


_Q = '"'


#: a stored instant -> its JSON (rows share instants: a batch's creation time, a cron minute)
_INSTANTS: dict[Any, str] = {}


def _instant_json(value: Any, read: Callable[[Any], datetime | None]) -> str:
    """A stored instant as ``job_to_dict`` shows it, in JSON (null for NULL)."""
    known = _INSTANTS.get(value)
    if known is not None:
        return known
    if not value:
        return "null"
    instant = read(value)
    text = f'"{format_instant(instant)}"' if instant else "null"
    if len(_INSTANTS) >= 8192:
        _INSTANTS.clear()
    _INSTANTS[value] = text
    return text


class JobJson:
    """Jobs as JSON bytes, each kept once encoded."""

    def __init__(self, keep: int = _KEEP) -> None:
        self._keep = keep
        self._encode = _encoder()
        #: id(job) -> (the job, its bytes)
        self._known: dict[int, tuple[JobDefinition, bytes]] = {}
        #: a built job's whole row -> its bytes (rows are read again: a page polled, walked
        #: twice)
        self._rows: dict[Any, bytes] = {}

    def row(self, row: Sequence[Any], read: Callable[[Any], datetime | None]) -> bytes:
        """The job of a store row (``JOB_COLUMNS``; ``read`` reads its instants) as
        ``job(job_from_row(row, read))`` encodes it: written from the row when its definition
        allows (``direct_json``), else built. A ``JobQuery.encode``: may run on the store's
        reading thread.

        Only a built job's bytes are kept (by its whole row): writing one from its row costs
        about what looking its row up would (a 14-column key hashed), and a client walking
        many jobs would never find one kept."""
        text = direct_json(row, read)
        if text is not None:
            return text.encode()
        rows = self._rows
        try:
            known = rows.get(row)
        except TypeError:  # a row type that cannot be a key: encoded, not kept
            return self._built(row, read)
        if known is not None:
            return known
        data = self._built(row, read)
        if len(rows) >= self._keep:
            rows.clear()
        rows[row] = data
        return data

    def _built(self, row: Sequence[Any], read: Callable[[Any], datetime | None]) -> bytes:
        return self._encode(job_out(job_from_row(row, read))).encode()

    def job(self, job: JobDefinition) -> bytes:
        known = self._known.get(id(job))
        if known is not None and known[0] is job:
            return known[1]
        data = self._encode(job_out(job)).encode()
        if len(self._known) >= self._keep:
            self._known.clear()
        self._known[id(job)] = (job, data)
        return data

    def page(self, jobs: Sequence[JobDefinition]) -> bytes:
        """``jobs`` as a JSON array, the bytes ``JSONResponse([job_out(j) ...])`` sends."""
        return b"[" + b",".join([self.job(j) for j in jobs]) + b"]"

    @staticmethod
    def joined(encoded: Sequence[bytes]) -> bytes:
        """Jobs already encoded (``row``) as a JSON array."""
        return b"[" + b",".join(encoded) + b"]"
