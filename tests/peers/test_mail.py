"""Outbound mail against a real SMTP server (aiosmtpd on loopback): the settings, both parts of a mail, STARTTLS
with a private CA, refusal of an untrusted certificate, and an SMTP outage that delays mail without losing it."""

from __future__ import annotations

import contextlib
import json
import time

from conftest import Idp, create_database, free_port, server_env, spawn_server, stop_server, wait_healthy
from mailbox import Mailbox, make_tls_cert

FROM = "Sesame <sso@example.com>"


@contextlib.contextmanager
def sesame_with_mail(tmp_path, smtp_url: str | None, **extra: str):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(tmp_path, port, base_url, create_database())
    if smtp_url is not None:
        env["SESAME_SMTP_URL"] = smtp_url
        env["SESAME_MAIL_FROM"] = FROM
    env.update(extra)
    server = Idp(base_url=base_url, env=env, workdir=tmp_path, log_file=tmp_path / "sesame.log", sp_base_url="")
    proc = spawn_server(server)
    try:
        wait_healthy(proc, server)
        yield server
    finally:
        stop_server(proc)


def events(server: Idp, name: str) -> list[dict]:
    out = server.cli("events", "--name", name, "--json")
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_for_event(server: Idp, name: str, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = events(server, name)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {name} event in {timeout}s:\n{server.log_tail()}")


def test_a_test_mail_arrives_with_a_text_and_an_html_part(tmp_path):
    smtp_port = free_port()
    box = Mailbox(smtp_port).start()
    try:
        with sesame_with_mail(tmp_path, f"smtp://127.0.0.1:{smtp_port}") as server:
            server.cli("mail", "test", "ops@example.com")
            [mail] = box.wait_for(1)
            assert mail.rcpt_tos == ["ops@example.com"]
            assert mail.message["From"] == FROM
            assert mail.message["Subject"] == "[sesame] Test message"
            text, html = mail.part("text/plain"), mail.part("text/html")
            # Each part names the instance that sent it.
            assert server.base_url in text and server.base_url in html
            assert "<html" in html and "requested by cli" in text
            [sent] = wait_for_event(server, "mail_sent")
            assert sent["target"] == "ops@example.com" and sent["success"] is True
            assert json.loads(server.cli("mail", "status", "--json"))["pending"] == 0
    finally:
        box.stop()


def test_starttls_is_used_with_a_private_ca_and_an_untrusted_certificate_is_refused(tmp_path):
    cert, key = make_tls_cert(tmp_path)
    smtp_port = free_port()
    box = Mailbox(smtp_port, tls=(cert, key)).start()
    try:
        # The server offers STARTTLS and requires it; sesame trusts its certificate only through smtp_ca_file.
        untrusted = tmp_path / "untrusted"
        untrusted.mkdir()
        with sesame_with_mail(untrusted, f"smtp://127.0.0.1:{smtp_port}") as server:
            server.cli("mail", "test", "ops@example.com")
            [failed] = wait_for_event(server, "mail_failed")
            assert failed["success"] is False and "will retry" in failed["detail"]
            assert "certificate" in failed["detail"], failed["detail"]
            assert box.received == []
        trusted = tmp_path / "trusted"
        trusted.mkdir()
        with sesame_with_mail(trusted, f"smtp://127.0.0.1:{smtp_port}", SESAME_SMTP_CA_FILE=str(cert)) as server:
            server.cli("mail", "test", "ops@example.com")
            [mail] = box.wait_for(1)
            assert mail.encrypted, "the mail crossed in clear"
    finally:
        box.stop()


def test_an_smtp_outage_delays_mail_without_losing_it(tmp_path):
    smtp_port = free_port()
    with sesame_with_mail(tmp_path, f"smtp://127.0.0.1:{smtp_port}") as server:
        # Nothing listens yet: the mail waits, and says why.
        server.cli("mail", "test", "ops@example.com")
        wait_for_event(server, "mail_failed")
        status = json.loads(server.cli("mail", "status", "--json"))
        assert status["pending"] == 1 and status["failed"] == 0
        box = Mailbox(smtp_port).start()
        try:
            [mail] = box.wait_for(1, timeout=60)
            assert mail.rcpt_tos == ["ops@example.com"]
            wait_for_event(server, "mail_sent")
            assert json.loads(server.cli("mail", "status", "--json"))["pending"] == 0
        finally:
            box.stop()


def test_without_smtp_the_cli_says_mail_is_not_configured(tmp_path):
    with sesame_with_mail(tmp_path, None) as server:
        proc = server.run_cli("mail", "test", "ops@example.com")
        assert proc.returncode == 1
        assert "mail is not configured" in proc.stderr
        assert json.loads(server.cli("mail", "status", "--json"))["configured"] is False


def test_a_bad_smtp_url_stops_the_server_at_start_with_the_key(tmp_path):
    port = free_port()
    env = server_env(tmp_path, port, f"http://127.0.0.1:{port}", create_database())
    env["SESAME_SMTP_URL"] = "http://user:hunter2@mail.example.com"
    env["SESAME_MAIL_FROM"] = FROM
    server = Idp(base_url="", env=env, workdir=tmp_path, log_file=tmp_path / "sesame.log", sp_base_url="")
    proc = server.run_cli("serve")
    assert proc.returncode != 0
    assert "smtp_url" in proc.stderr and "hunter2" not in proc.stderr
