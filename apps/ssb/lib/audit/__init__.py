"""The audit log: one JSON line per action on the server, append-only, readable by an administrator.

- :mod:`.log`: the file (:class:`AuditLog`): what a line holds, appending, reading back; the label service's
  events (a lesion saved, replaced, removed) are written by :meth:`AuditLog.on_label_event`.
- :mod:`.trail`: the HTTP side: training, deletions, model changes and refused label writes recorded with their
  answer (an ASGI middleware), and ``GET /ssb/audit`` to read the log.
"""
