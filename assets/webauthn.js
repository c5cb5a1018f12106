// WebAuthn ceremonies for passkeys and security keys. The server (webauthn-rs) sends the options with binary
// fields as base64url strings; this script turns them into ArrayBuffers for navigator.credentials, and the
// authenticator's answer back into base64url JSON. Every request carries the session's CSRF token in the
// x-csrf-token header, read from the page's data-csrf attribute.
(function () {
  "use strict";

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body || {}),
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.error || "The request failed (" + r.status + ").");
        return data;
      });
    });
  }

  function creationOptions(options) {
    var pk = options.publicKey;
    pk.challenge = toBytes(pk.challenge);
    pk.user.id = toBytes(pk.user.id);
    (pk.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: pk };
  }

  function requestOptions(options) {
    var pk = options.publicKey;
    pk.challenge = toBytes(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return { publicKey: pk };
  }

  function registration(cred) {
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toText(cred.response.attestationObject),
        clientDataJSON: toText(cred.response.clientDataJSON),
      },
      extensions: {},
    };
  }

  function assertion(cred) {
    return {
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toText(cred.response.authenticatorData),
        clientDataJSON: toText(cred.response.clientDataJSON),
        signature: toText(cred.response.signature),
        userHandle: toText(cred.response.userHandle),
      },
      extensions: {},
    };
  }

  function say(status, text) {
    if (!status) return;
    status.textContent = text;
    status.hidden = !text;
  }

  function explain(err) {
    if (err && err.name === "NotAllowedError") return "The request was cancelled or timed out. Try again.";
    if (err && err.name === "InvalidStateError") return "This authenticator is already registered.";
    return (err && err.message) || "Something went wrong. Try again.";
  }

  // Runs an authentication ceremony: start (options), navigator.credentials.get, finish (with `extra` fields).
  function authenticate(startUrl, finishUrl, csrf, extra) {
    return post(startUrl, csrf).then(function (started) {
      return navigator.credentials.get(requestOptions(started.options)).then(function (cred) {
        var body = { challenge: started.challenge, credential: assertion(cred) };
        Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
        return post(finishUrl, csrf, body);
      });
    });
  }

  // The sign-in page: "Sign in with a passkey".
  var signin = document.getElementById("passkey-signin");
  if (signin) {
    var button = document.getElementById("passkey-signin-button");
    var status = document.getElementById("passkey-status");
    button.addEventListener("click", function () {
      button.disabled = true;
      say(status, "");
      authenticate("/login/passkey/start", "/login/passkey/finish", signin.getAttribute("data-csrf"), {
        continue: signin.getAttribute("data-continue") || "/",
      })
        .then(function (done) { window.location.assign(done.redirect || "/"); })
        .catch(function (err) { say(status, explain(err)); button.disabled = false; });
    });
  }

  // The console's second step: "Use a security key or passkey" after the password.
  var factor = document.getElementById("key-factor");
  if (factor) {
    var factorButton = document.getElementById("key-factor-button");
    var factorStatus = document.getElementById("key-factor-status");
    factorButton.addEventListener("click", function () {
      factorButton.disabled = true;
      say(factorStatus, "");
      authenticate(factor.getAttribute("data-start"), factor.getAttribute("data-finish"), factor.getAttribute("data-csrf"))
        .then(function (done) { window.location.assign(done.redirect || "/"); })
        .catch(function (err) { say(factorStatus, explain(err)); factorButton.disabled = false; });
    });
  }

  // The account's passkeys page (and the console's account page): "Add a passkey" and "Add a security key".
  var add = document.getElementById("passkey-add");
  if (add) {
    var csrf = add.getAttribute("data-csrf");
    var startUrl = add.getAttribute("data-start") || "/account/passkeys/register/start";
    var finishUrl = add.getAttribute("data-finish") || "/account/passkeys/register/finish";
    var addStatus = document.getElementById("passkey-status");
    add.querySelectorAll("button[data-register]").forEach(function (b) {
      b.addEventListener("click", function () {
        var kind = b.getAttribute("data-register");
        var nameField = document.getElementById("passkey-name");
        var name = (nameField && nameField.value.trim()) || (kind === "passkey" ? "Passkey" : "Security key");
        b.disabled = true;
        say(addStatus, "");
        post(startUrl, csrf, { kind: kind })
          .then(function (started) {
            return navigator.credentials.create(creationOptions(started.options)).then(function (cred) {
              return post(finishUrl, csrf, {
                challenge: started.challenge,
                name: name,
                credential: registration(cred),
              });
            });
          })
          .then(function (done) { window.location.assign(done.redirect || window.location.pathname); })
          .catch(function (err) { say(addStatus, explain(err)); b.disabled = false; });
      });
    });
  }

  // For other pages (a second step after the password): sesameWebauthn.authenticate(start, finish, csrf, extra).
  window.sesameWebauthn = { authenticate: authenticate };
})();
