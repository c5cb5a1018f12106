"""Single logout with pysaml2 SPs: SP-initiated over HTTP-Redirect and HTTP-POST, propagated front-channel to
the other SPs the session signed in to (the test plays the browser, and each logout frame's LogoutRequest is
handed to the SP's pysaml2), best effort when an SP is down, and unsigned requests refused where signatures are
required.
"""

from __future__ import annotations

import re

import pytest
import requests
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.xmldsig import SIG_RSA_SHA256

from conftest import app_settings, free_port
from htmlforms import parse_page
from sp import browser_login, consume, create_authn_request, send


def slo_profile(idp, app: str, *, slo_url: str | None = None, keys=None):
    profile = idp.profile(app, keys=keys)
    return profile.but(slo_url=slo_url or f"{idp.sp_base_url}/{app}/slo")


def register(idp, profile, label: str, **settings):
    if profile.app not in idp.apps:
        idp.register(profile, **app_settings(display_label=label, **settings))
    return idp.apps[profile.app]


def sign_in(idp, browser: requests.Session, client, user):
    """An SP-initiated login in `browser` (signing in only if the IdP session is not there yet)."""
    request = create_authn_request(client, BINDING_HTTP_REDIRECT, relay_state="")
    landing = browser_login(browser, send(browser, request), user.username, user.password, idp.base_url)
    return consume(client, landing.saml_response, {request.request_id: "/"})


def carry_logout_frames(idp, browser: requests.Session, run_page: requests.Response, sps: dict) -> dict[str, str]:
    """Does what each logout frame does in a browser: load our frame page, post its LogoutRequest to the SP, and
    post the SP's LogoutResponse back to us. `sps` maps app -> (pysaml2 client, NameID). Returns app -> outcome."""
    outcomes = {}
    for src in re.findall(r'src="(/logout/[^"]+/sp/[^"]+)"', run_page.text):
        app = src.rsplit("/", 1)[1]
        frame = parse_page(browser.get(idp.url(src), timeout=30).text).form_with("SAMLRequest")
        assert frame is not None, f"no LogoutRequest form in the frame of {app}"
        client, name_id = sps[app]
        try:
            # The browser reaching the SP; an SP that is down fails here, as a frame would.
            requests.post(frame.action, data=frame.submission(), timeout=5)
        except requests.ConnectionError:
            if client is None:
                outcomes[app] = "unreachable"
                continue
        answer = client.handle_logout_request(
            frame.value("SAMLRequest"), name_id, BINDING_HTTP_POST, relay_state=frame.get("RelayState")
        )
        assert not client.is_logged_in(name_id), f"pysaml2 SP {app} still has the session"
        back = parse_page(answer["data"]).form_with("SAMLResponse")
        assert back is not None and back.action == idp.url(f"/saml2/{app}/slo"), answer
        reply = browser.post(back.action, data=back.submission(), timeout=30)
        assert reply.status_code == 200, reply.text
        outcomes[app] = "confirmed"
    return outcomes


def finish(idp, browser, run_page: requests.Response):
    match = re.search(r'action="(/logout/[^"]+/finish)"', run_page.text)
    assert match, run_page.text
    return browser.post(idp.url(match.group(1)), timeout=30)


def signed_out_at_idp(idp, browser) -> bool:
    return browser.get(idp.url("/"), allow_redirects=False, timeout=30).status_code == 303


@pytest.mark.parametrize("binding", [BINDING_HTTP_REDIRECT, BINDING_HTTP_POST], ids=["redirect", "post"])
def test_sp_initiated_logout_ends_the_idp_session_and_propagates_to_a_second_sp(idp, alice, binding):
    suffix = "r" if binding == BINDING_HTTP_REDIRECT else "p"
    first = register(idp, slo_profile(idp, f"slo-first-{suffix}"), "First SP")
    second = register(idp, slo_profile(idp, f"slo-second-{suffix}"), "Second SP")
    browser = requests.Session()
    first_client, second_client = idp.client(first), idp.client(second)
    first_login = sign_in(idp, browser, first_client, alice)
    second_login = sign_in(idp, browser, second_client, alice)

    (entity_id,) = first_client.metadata.identity_providers()
    ((used, info),) = first_client.do_logout(
        first_login.name_id, [entity_id], "", None, expected_binding=binding
    ).values()
    assert used == binding
    if binding == BINDING_HTTP_REDIRECT:
        run_page = browser.get(dict(info["headers"])["Location"], timeout=30)
    else:
        form = parse_page(info["data"]).form_with("SAMLRequest")
        run_page = browser.post(form.action, data=form.submission(), timeout=30)
    assert run_page.status_code == 200, run_page.text
    assert signed_out_at_idp(idp, browser), "the IdP session ended"

    outcomes = carry_logout_frames(idp, browser, run_page, {second.app: (second_client, second_login.name_id)})
    assert outcomes == {second.app: "confirmed"}
    done = finish(idp, browser, run_page)
    back = parse_page(done.text).form_with("SAMLResponse")
    assert back is not None and back.action == first.slo_url, done.text
    response = first_client.parse_logout_request_response(back.value("SAMLResponse"), BINDING_HTTP_POST)
    assert response is not None and response.status_ok()
    assert response.response.status.status_code.status_code is None, "no PartialLogout"


def test_with_one_of_three_sps_down_the_others_log_out_and_the_user_is_told_which(idp, alice):
    down = f"http://127.0.0.1:{free_port()}/down/slo"
    sps = [
        register(idp, slo_profile(idp, "slo-a"), "Alpha"),
        register(idp, slo_profile(idp, "slo-b"), "Bravo"),
        register(idp, slo_profile(idp, "slo-c", slo_url=down), "Charlie"),
    ]
    browser = requests.Session()
    clients = {sp.app: idp.client(sp) for sp in sps}
    logins = {sp.app: sign_in(idp, browser, clients[sp.app], alice) for sp in sps}

    portal = parse_page(browser.get(idp.url("/"), timeout=30).text)
    logout = portal.form_with("csrf_token")
    run_page = browser.post(idp.url("/logout"), data=logout.submission(), timeout=30)
    assert run_page.status_code == 200 and "/logout/" in run_page.url, run_page.text
    assert signed_out_at_idp(idp, browser)

    targets = {
        "slo-a": (clients["slo-a"], logins["slo-a"].name_id),
        "slo-b": (clients["slo-b"], logins["slo-b"].name_id),
        "slo-c": (None, logins["slo-c"].name_id),
    }
    outcomes = carry_logout_frames(idp, browser, run_page, targets)
    assert outcomes == {"slo-a": "confirmed", "slo-b": "confirmed", "slo-c": "unreachable"}
    done = parse_page(finish(idp, browser, run_page).text).text
    signed_out, _, not_confirmed = done.partition("did not confirm")
    assert "Alpha" in signed_out and "Bravo" in signed_out and "Charlie" not in signed_out, done
    assert "Charlie" in not_confirmed and "Alpha" not in not_confirmed, done
    events = idp.cli("events", "--name", "slo_propagate", "--json").splitlines()
    assert any('"app":"slo-c"' in e and '"success":false' in e for e in events), events


def test_an_unsigned_logout_request_from_an_app_requiring_signatures_is_refused(idp, alice, sp_keys):
    sp = register(idp, slo_profile(idp, "slo-signed", keys=sp_keys), "Signed SP", require_signed_requests=True)
    browser = requests.Session()
    client = idp.client(sp)
    login = sign_in(idp, browser, client, alice)
    (entity_id,) = client.metadata.identity_providers()

    for binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST):
        ((_, info),) = client.do_logout(login.name_id, [entity_id], "", None, sign=False, expected_binding=binding).values()
        if binding == BINDING_HTTP_REDIRECT:
            refused = browser.get(dict(info["headers"])["Location"], timeout=30)
        else:
            form = parse_page(info["data"]).form_with("SAMLRequest")
            refused = browser.post(form.action, data=form.submission(), timeout=30)
        assert refused.status_code == 400, refused.text
        assert "must be signed" in parse_page(refused.text).text
        assert not signed_out_at_idp(idp, browser), "the session stays"

    # pysaml2's default Redirect signature algorithm is RSA-SHA1, which is refused like an unsigned request.
    ((_, info),) = client.do_logout(login.name_id, [entity_id], "", None, sign=True, expected_binding=BINDING_HTTP_REDIRECT).values()
    weak = browser.get(dict(info["headers"])["Location"], timeout=30)
    assert weak.status_code == 400 and "rsa-sha1 is not accepted" in parse_page(weak.text).text
    assert not signed_out_at_idp(idp, browser)

    ((_, info),) = client.do_logout(
        login.name_id, [entity_id], "", None, sign=True, sign_alg=SIG_RSA_SHA256, expected_binding=BINDING_HTTP_REDIRECT
    ).values()
    done = browser.get(dict(info["headers"])["Location"], timeout=30)
    assert done.status_code == 200, done.text
    assert signed_out_at_idp(idp, browser), done.text
    back = parse_page(done.text).form_with("SAMLResponse")
    response = client.parse_logout_request_response(back.value("SAMLResponse"), BINDING_HTTP_POST)
    assert response is not None and response.status_ok()
