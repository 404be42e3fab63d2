"""Money out and back (代发): bank files, bank results, corrections and re-issue of failed lines.

- :mod:`admin.bank.ledger` — what a batch's money looks like now: the bank files awaiting a
  result, failed lines, corrections awaiting re-issue, and the balance
  (allocated = paid + returned + pending). Plain queries; the workflow reads them for its checks.
- :mod:`admin.bank.files` — the layout of the bank file (CSV and .xlsx) both ways: the export,
  and the same file returned with 处理结果/失败原因 (docs/bank-files.md).
- :mod:`admin.bank.reasons` — a bank's failure reason → a stable code, a label and what the
  person should do.
- :mod:`admin.bank.service` — export (audited, never stored) and result import (all-or-nothing,
  idempotent), through the workflow's ``bank_export``/``bank_import`` actions.
- :mod:`admin.bank.results` — correction of a failed line, re-issue in a supplementary payment
  (补发), return of money that cannot be paid (退回).
- :mod:`admin.bank.views` and :mod:`admin.bank.cli` — the pages and ``yikatong bank …``.

Publication (``publish``) is a workflow action (admin/batches/workflow.py); the arrival SMS it
queues are :mod:`admin.sms`.
"""
