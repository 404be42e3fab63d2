"""Arrival notices by SMS (到账短信): one message per paid line, sent exactly once.

The Yunnan rules (seed 002, 第十条) name what the message says: project, amount, date, paying
department and period. :mod:`admin.sms.messages` queues a message per paid line when the batch
is published (in the publication's transaction; a re-issue paid later is queued when its result
is imported) and sends the queue through a gateway of :mod:`admin.sms.gateways`: the sandbox by
default (messages land in the ``sms_sandbox`` table, for tests and the demo), or an HTTP gateway
configured by ``SMS_GATEWAY*`` settings. Phone numbers are decrypted only to be handed to the
gateway; no log line, error message or sandbox row holds one.
"""
