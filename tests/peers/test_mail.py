"""Outbound mail against a real SMTP server (aiosmtpd on loopback): the settings, both parts of a mail, STARTTLS
with a private CA, refusal of an untrusted certificate, and an SMTP outage that delays mail without losing it."""

from __future__ import annotations

import contextlib
import json
import re
import time

import requests

from conftest import Idp, app_settings, create_database, free_port, server_env, spawn_server, stop_server, wait_healthy
from mailbox import Mailbox, make_tls_cert
from sp import BINDINGS, sp_initiated_login

FROM = "Sesame <sso@example.com>"


@contextlib.contextmanager
def sesame_with_mail(tmp_path, smtp_url: str | None, sp_base_url: str = "", **extra: str):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = server_env(tmp_path, port, base_url, create_database())
    if smtp_url is not None:
        env["SESAME_SMTP_URL"] = smtp_url
        env["SESAME_MAIL_FROM"] = FROM
    env.update(extra)
    server = Idp(base_url=base_url, env=env, workdir=tmp_path, log_file=tmp_path / "sesame.log", sp_base_url=sp_base_url)
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


NEW_PASSWORD = "a long and unusual passphrase 7"


def csrf_of(page: requests.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_an_invitation_link_sets_a_password_once_and_the_user_signs_in_to_a_pysaml2_sp(tmp_path, sp_origin):
    smtp_port = free_port()
    box = Mailbox(smtp_port).start()
    try:
        with sesame_with_mail(tmp_path, f"smtp://127.0.0.1:{smtp_port}", sp_base_url=sp_origin) as server:
            for group in ("staff", "engineering"):
                server.cli("group", "add", group)
            sp = server.register(server.profile("invited-sp"), **app_settings())
            server.cli("user", "add", "carol", "--email", "carol@example.org", "--display-name", "Carol", "--invite")
            server.cli("group", "add-member", "staff", "carol")
            [mail] = box.wait_for(1)
            assert mail.rcpt_tos == ["carol@example.org"]
            text, html = mail.part("text/plain"), mail.part("text/html")
            link = re.search(re.escape(server.base_url) + r"/invite/[A-Za-z0-9_-]{43}", text).group(0)
            assert link in html and server.base_url in text
            [sent] = events(server, "admin_user_invite")
            assert sent["target"] == "carol" and link.rsplit("/", 1)[1] not in json.dumps(sent)
            token = server.cli("api-token", "create", "invites").strip()
            api = {"Authorization": f"Bearer {token}"}

            def invitation_state() -> str:
                user = requests.get(server.url("/api/v1/users/carol"), headers=api, timeout=30).json()
                return user["invitation"]["state"]

            assert invitation_state() == "sent"

            browser = requests.Session()
            page = browser.get(link, timeout=30)
            assert page.status_code == 200 and "carol" in page.text
            # The two fields must match, and a refused attempt does not use the link up.
            form = {"csrf_token": csrf_of(page), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"}
            refused = browser.post(link, data=form, timeout=30)
            assert refused.status_code == 400 and "does not match" in refused.text
            form["confirm"] = NEW_PASSWORD
            done = browser.post(link, data=form, timeout=30, allow_redirects=False)
            assert done.status_code == 303 or done.status_code == 302, done.text
            assert done.headers["location"] == "/login?notice=password_set"
            assert "Your password is set" in browser.get(server.url(done.headers["location"]), timeout=30).text
            # Used once: the same link is refused now.
            again = browser.post(link, data=form, timeout=30)
            assert again.status_code == 400 and "not valid" in again.text
            assert browser.get(link, timeout=30).status_code == 400
            assert events(server, "user_invite_accept")
            assert invitation_state() == "accepted"
            # A user who has a password is refused through the API too, as a problem.
            again = requests.post(server.url("/api/v1/users/carol/invitation"), headers=api, timeout=30)
            assert again.status_code == 409 and "password reset" in again.json()["detail"]

            flow = sp_initiated_login(server.client(sp), server.base_url, "carol", NEW_PASSWORD, BINDINGS["redirect"])
            response = flow.accept()
            assert response.name_id.text == "carol@example.org"
    finally:
        box.stop()


def test_invitations_are_refused_clearly(tmp_path):
    with sesame_with_mail(tmp_path, None) as server:
        proc = server.run_cli("user", "add", "dave", "--email", "dave@example.org", "--invite")
        assert proc.returncode == 1 and "mail is not configured" in proc.stderr
        # Nothing was created half-way.
        assert "dave" not in server.cli("user", "export", "--json")
    smtp_port = free_port()
    box = Mailbox(smtp_port).start()
    try:
        other = tmp_path / "with-mail"
        other.mkdir()
        with sesame_with_mail(other, f"smtp://127.0.0.1:{smtp_port}") as server:
            server.cli("user", "add", "erin", "--email", "erin@example.org", "--password-stdin", input=NEW_PASSWORD)
            proc = server.run_cli("user", "invite", "erin")
            assert proc.returncode == 1 and "already has a password" in proc.stderr and "password reset" in proc.stderr
            server.cli("user", "add", "fay", "--email", "fay@example.org")
            server.cli("user", "suspend", "fay")
            proc = server.run_cli("user", "invite", "fay")
            assert proc.returncode == 1 and "suspended" in proc.stderr
            # Re-inviting replaces the earlier link: only the newest works.
            server.cli("user", "add", "gus", "--email", "gus@example.org")
            server.cli("user", "invite", "gus")
            server.cli("user", "invite", "gus")
            first, second = box.wait_for(2)
            links = [re.search(r"/invite/[A-Za-z0-9_-]{43}", m.part("text/plain")).group(0) for m in (first, second)]
            assert links[0] != links[1]
            assert requests.get(server.url(links[0]), timeout=30).status_code == 400
            assert requests.get(server.url(links[1]), timeout=30).status_code == 200
    finally:
        box.stop()


def sign_in(server: Idp, username: str, password: str) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    page = session.get(server.url("/login"), timeout=30)
    form = {"csrf_token": csrf_of(page), "username": username, "password": password, "continue": "/"}
    return session, session.post(server.url("/login"), data=form, timeout=30)


def signed_in(session: requests.Session, server: Idp) -> bool:
    return session.get(server.url("/"), timeout=30, allow_redirects=False).status_code == 200


def forgot(server: Idp, who: str) -> requests.Response:
    session = requests.Session()
    page = session.get(server.url("/login/forgot"), timeout=30)
    return session.post(server.url("/login/forgot"), data={"csrf_token": csrf_of(page), "who": who}, timeout=30)


def without_csrf(html: str) -> str:
    return re.sub(r'(name="csrf_token" value=|data-csrf=)"[^"]*"', "", html)


def test_a_reset_link_works_once_ends_other_sessions_and_keeps_the_second_factor(tmp_path):
    from test_mfa import totp

    smtp_port = free_port()
    box = Mailbox(smtp_port).start()
    try:
        with sesame_with_mail(tmp_path, f"smtp://127.0.0.1:{smtp_port}") as server:
            server.cli("user", "add", "hal", "--email", "hal@example.org", "--password-stdin", input=NEW_PASSWORD)
            server.cli("user", "add", "sus", "--email", "sus@example.org", "--password-stdin", input=NEW_PASSWORD)
            server.cli("user", "suspend", "sus")
            other, _ = sign_in(server, "hal", NEW_PASSWORD)
            assert signed_in(other, server)

            # Unknown and suspended accounts: the same page, the same status, and no mail.
            unknown, suspended = forgot(server, "nobody@example.org"), forgot(server, "sus")
            known = forgot(server, "HAL@example.org")
            assert unknown.status_code == suspended.status_code == known.status_code == 200
            assert without_csrf(unknown.text) == without_csrf(known.text) == without_csrf(suspended.text)
            [mail] = box.wait_for(1)
            assert mail.rcpt_tos == ["hal@example.org"]
            assert [e["target"] for e in events(server, "user_password_reset_request")] == ["hal"]
            link = re.search(re.escape(server.base_url) + r"/login/reset/[A-Za-z0-9_-]{43}", mail.part("text/plain"))
            link = link.group(0)

            browser = requests.Session()
            page = browser.get(link, timeout=30)
            assert page.status_code == 200 and "hal" in page.text
            second = "another long passphrase 42"
            form = {"csrf_token": csrf_of(page), "password": second, "confirm": second}
            done = browser.post(link, data=form, timeout=30, allow_redirects=False)
            assert done.headers["location"] == "/login?notice=password_reset", done.text
            assert browser.post(link, data=form, timeout=30).status_code == 400, "a reset link works once"
            assert not signed_in(other, server), "the other session ended"
            [_, notice] = box.wait_for(2)
            assert notice.rcpt_tos == ["hal@example.org"] and "password was changed" in notice.message["Subject"]
            assert events(server, "user_password_reset")
            _, old = sign_in(server, "hal", NEW_PASSWORD)
            assert old.status_code == 401
            session, new = sign_in(server, "hal", second)
            assert signed_in(session, server)

            # With a factor, a reset does not skip it.
            server.cli("user", "mfa", "reset", "hal")
            session, enrol = sign_in(server, "hal", second)
            assert "/login/enrol" in enrol.url, enrol.url
            secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol.text).group(1)
            code = {"csrf_token": csrf_of(enrol), "code": totp(secret, time.time()), "continue": "/"}
            assert session.post(server.url("/login/enrol"), data=code, timeout=30).status_code == 200
            forgot(server, "hal")
            [*_, mail] = box.wait_for(3)
            link = re.search(r"/login/reset/[A-Za-z0-9_-]{43}", mail.part("text/plain")).group(0)
            browser = requests.Session()
            page = browser.get(server.url(link), timeout=30)
            third = "a third long passphrase 99"
            form = {"csrf_token": csrf_of(page), "password": third, "confirm": third}
            assert browser.post(server.url(link), data=form, timeout=30).status_code == 200
            session, factor = sign_in(server, "hal", third)
            assert "/login/factor" in factor.url, factor.url
            assert not signed_in(session, server), "not signed in before the second factor"
    finally:
        box.stop()


def test_reset_requests_are_throttled_per_account_and_per_client(tmp_path):
    smtp_port = free_port()
    box = Mailbox(smtp_port).start()
    try:
        with sesame_with_mail(tmp_path, f"smtp://127.0.0.1:{smtp_port}") as server:
            server.cli("user", "add", "ida", "--email", "ida@example.org", "--password-stdin", input=NEW_PASSWORD)
            pages = [forgot(server, "ida") for _ in range(5)]
            assert len({without_csrf(p.text) for p in pages}) == 1 and {p.status_code for p in pages} == {200}
            # Beyond the limit nothing more is queued (the event is written with the queued mail).
            assert len(events(server, "user_password_reset_request")) == 3
            assert all(m.rcpt_tos == ["ida@example.org"] for m in box.wait_for(3))
            # Per client address: ten requests in the window (five above, five here), then nothing for anyone.
            server.cli("user", "add", "kim", "--email", "kim@example.org", "--password-stdin", input=NEW_PASSWORD)
            for i in range(5):
                forgot(server, f"nobody{i}@example.org")
            assert without_csrf(forgot(server, "kim").text) == without_csrf(pages[0].text)
            assert [e["target"] for e in events(server, "user_password_reset_request")] == ["ida"] * 3
    finally:
        box.stop()


def test_without_smtp_the_forgot_page_says_to_ask_an_administrator(tmp_path):
    with sesame_with_mail(tmp_path, None) as server:
        page = requests.get(server.url("/login/forgot"), timeout=30)
        assert page.status_code == 200 and "not available here" in page.text and "administrator" in page.text
        assert "Forgot your password?" in requests.get(server.url("/login"), timeout=30).text


def test_an_invited_user_under_an_mfa_policy_enrols_a_factor_before_anything_else(tmp_path):
    smtp_port = free_port()
    box = Mailbox(smtp_port).start()
    try:
        with sesame_with_mail(tmp_path, f"smtp://127.0.0.1:{smtp_port}") as server:
            token = server.cli("api-token", "create", "policy").strip()
            policy = {"everyone": True, "groups": []}
            api = {"Authorization": f"Bearer {token}"}
            assert requests.put(server.url("/api/v1/mfa/policy"), json=policy, headers=api, timeout=30).ok
            server.cli("user", "add", "ned", "--email", "ned@example.org", "--invite")
            [mail] = box.wait_for(1)
            link = re.search(r"/invite/[A-Za-z0-9_-]{43}", mail.part("text/plain")).group(0)
            browser = requests.Session()
            page = browser.get(server.url(link), timeout=30)
            form = {"csrf_token": csrf_of(page), "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
            assert browser.post(server.url(link), data=form, timeout=30).status_code == 200
            session, enrol = sign_in(server, "ned", NEW_PASSWORD)
            assert "/login/enrol" in enrol.url, enrol.url
            assert not signed_in(session, server), "no IdP session before the factor"
    finally:
        box.stop()


def test_an_import_with_invite_mails_every_created_user(tmp_path):
    smtp_port = free_port()
    box = Mailbox(smtp_port).start()
    try:
        with sesame_with_mail(tmp_path, f"smtp://127.0.0.1:{smtp_port}") as server:
            server.cli("user", "add", "old", "--email", "old@example.org")
            csv = tmp_path / "users.csv"
            csv.write_text("username,email\nold,old@example.org\nnew1,new1@example.org\nnew2,new2@example.org\n")
            server.cli("user", "import", str(csv), "--invite")
            mails = box.wait_for(2)
            assert sorted(m.rcpt_tos[0] for m in mails) == ["new1@example.org", "new2@example.org"]
            assert sorted(e["target"] for e in events(server, "admin_user_invite")) == ["new1", "new2"]
    finally:
        box.stop()
