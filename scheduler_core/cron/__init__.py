"""Our own cron engine: cronie's semantics, IANA time zones and cronie's DST rules.

Why not croniter: measured against cronie it runs fixed-time jobs twice in a fall-back overlap,
moves a wildcard job's skipped minutes after a spring-forward gap, reads ``5-5/10`` as every ten
minutes and accepts six fields, reversed ranges and Quartz extensions. The rules here are the ones
in DESIGN.md ("Scheduling semantics (decided)"):

* exactly five fields (minute hour day-of-month month day-of-week); Sunday is 0 or 7; JAN..DEC and
  SUN..SAT in any case; macros (lowercase only) @yearly @annually @monthly @weekly @daily
  @midnight @hourly; ``N/step`` means N through the field's maximum; step 0, reversed ranges,
  out-of-range values, Quartz extensions (``? L W #``) and unknown macros are rejected with a
  message naming the field and the value;
* day of month and day of week combine with OR when neither field starts with ``*``, else AND
  (cronie's DOM_STAR/DOW_STAR rule);
* a job is *wildcard* when its minute or hour field starts with ``*``, else *fixed-time*. Spring
  forward: a fixed-time job matching any skipped local minute runs once, at the instant the gap
  ends; a wildcard job's skipped minutes are lost. Fall back: in the repeated local minutes a
  fixed-time job runs only in the first pass, a wildcard job in both.

The next run is found by jumping field by field in local wall time (never minute by minute), then
mapping the local minute to UTC with the zone's fold/gap information.

The pieces: ``fields`` (the expression language: parse and validate into :class:`CronFields`),
``compiled`` (the lookup tables of the field-by-field search, cached by text), ``zones`` (IANA
zones, fixed offsets, where a spring-forward gap ends), ``schedule`` (:class:`CronSchedule`: the
next run, with cronie's DST rules) and ``describe`` (the English reading).
"""

from __future__ import annotations

__all__ = [
    "MACROS",
    "CronFields",
    "CronSchedule",
    "parse_cron",
    "validate_cron",
]

from .compiled import parse_cron, validate_cron
from .fields import MACROS, CronFields
from .fields import MAX_EXPRESSION_LENGTH as MAX_EXPRESSION_LENGTH
from .schedule import CronSchedule
