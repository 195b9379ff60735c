"""A real alert by e-mail: stop a Kafka broker, receive KafkaBrokerDown at the stack's SMTP sink."""

from __future__ import annotations

import subprocess
import sys
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from devstack import proc
from devstack.config import REPO_ROOT, StackConfig
from devstack.services import all_services
from tests.monitoring.conftest import prom_query

pytestmark = pytest.mark.e2e


def _mails_since(maildir: Path, since: float) -> list[tuple[str, str]]:
    """(subject, body) of the mails the SMTP sink stored after ``since``."""
    new = maildir / "new"  # a Maildir: one file per delivered message
    if not new.exists():
        return []
    out = []
    for path in sorted(new.iterdir()):
        if path.stat().st_mtime < since:
            continue
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        part = msg.get_body(preferencelist=("plain", "html"))
        out.append((str(msg["Subject"]), part.get_content() if part else ""))
    return out


def test_stopping_a_broker_sends_an_alert_email(monitoring_live: StackConfig) -> None:
    """Stop kafka-3 with the stack's own stop routine; KafkaBrokerDown must arrive by e-mail.

    The broker is held down until the mail arrives: another session's `devstack up` (the shared
    stack's test fixture) may start it again meanwhile, and the rule needs it down for 1 minute.
    """
    cfg = monitoring_live
    broker = next(s for s in all_services(cfg) if s.name == "kafka-3")
    # Precondition: Prometheus sees the broker up. One scrape may fail on a loaded machine (a
    # scrape times out at 10 s), so give it a few scrape intervals.
    deadline = time.monotonic() + 60
    while not prom_query('up{job="kafka", broker="kafka-3"} == 1') and time.monotonic() < deadline:
        time.sleep(2)
    assert prom_query('up{job="kafka", broker="kafka-3"} == 1'), "kafka-3 is not scraped as up"
    assert proc.running_record(broker.pidfile(cfg)) is not None, "kafka-3 is not running"
    started = time.time()
    maildir = cfg.state_dir / "mail"
    mail: tuple[str, str] | None = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and mail is None:
            if proc.running_record(broker.pidfile(cfg)) is not None:
                proc.stop(broker.pidfile(cfg), sig=broker.stop_signal, timeout_s=60)
            mail = next(
                (
                    m
                    for m in _mails_since(maildir, started)
                    if "KafkaBrokerDown" in m[0] and "FIRING" in m[0] and "kafka-3" in m[1]
                ),
                None,
            )
            time.sleep(1)
    finally:
        up = subprocess.run(
            [sys.executable, "-m", "devstack", "up"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert mail is not None, "no KafkaBrokerDown e-mail for kafka-3 within 5 minutes"
    subject, body = mail
    assert "critical" in subject
    assert "Kafka broker kafka-3 is down" in body
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
