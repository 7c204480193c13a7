"""The API's routes, in the groups :func:`scheduler_core.api.create_app` includes (in this order):

* ``schedule``: the guide's ``/api/v1/schedule[/{job_id}[/pause|resume|reset|run|history|
  next_run]]``;
* ``runs``: ``/api/v1/apply``, runs and their heartbeat iterations, approvals and the audit log;
* ``sdk``: the upstream Symbiont SDK's plural aliases, ``/api/v1/schedules[/{id}[/...]]``,
  answering with exactly the upstream keys (the SDK builds dataclasses from them);
* ``store``: ``/api/v1/store/stats`` and ``/api/v1/store/prune`` (history past its retention);
* ``system``: ``/api/v1/health/scheduler``, the server-sent event stream (``/api/v1/events``)
  and ``/metrics``;
* ``logs``: ``/api/v1/logs``, the daemon's own log file (``symbi logs`` from another machine).

Every mutation goes through the service, with the caller's API key id as the audit actor.
"""
