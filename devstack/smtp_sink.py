"""A local SMTP sink for Alertmanager's e-mail in the native stack (Mailpit's role in compose).

    python -m devstack.smtp_sink --port 1025 --maildir <state>/mail

Accepts every message on loopback and stores it, unchanged, as one file in a Maildir (read it with
``mutt -f <dir>``, Python's ``mailbox.Maildir``, or just ``cat``); logs one line per message. Built
on aiosmtpd (PyPI), so it runs with the virtual environment's Python.
"""

from __future__ import annotations

import argparse
import mailbox
import signal
import threading
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any


class MaildirHandler:
    """aiosmtpd handler: store each DATA transaction in the Maildir."""

    def __init__(self, maildir: Path) -> None:
        self.box = mailbox.Maildir(maildir, create=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        key = self.box.add(raw)
        msg = message_from_bytes(raw, policy=policy.default)
        print(
            f"[smtp-sink] {key}: from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}: "
            f"{msg.get('Subject', '(no subject)')}",
            flush=True,
        )
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> int:
    from aiosmtpd.controller import Controller

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    controller = Controller(MaildirHandler(args.maildir), hostname=args.host, port=args.port)
    controller.start()
    print(
        f"[smtp-sink] listening on {args.host}:{args.port}, storing in {args.maildir}", flush=True
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
