// Passkeys (WebAuthn): progressive enhancement. Forms marked data-passkey-form stay
// hidden unless this browser can make or use passkeys; each asks the server for options,
// calls navigator.credentials and posts the result back as JSON.
(function () {
  "use strict";

  if (window.__passkeysReady) {
    return;
  }
  window.__passkeysReady = true;

  function fromB64url(text) {
    var padded = text.replace(/-/g, "+").replace(/_/g, "/");
    while (padded.length % 4) {
      padded += "=";
    }
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    json.challenge = fromB64url(json.challenge);
    json.user.id = fromB64url(json.user.id);
    (json.excludeCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return json;
  }

  function requestOptions(json) {
    json.challenge = fromB64url(json.challenge);
    (json.allowCredentials || []).forEach(function (c) {
      c.id = fromB64url(c.id);
    });
    return json;
  }

  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(response.clientDataJSON) },
    };
    if (credential.authenticatorAttachment) {
      out.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (response.attestationObject) {
      out.response.attestationObject = toB64url(response.attestationObject);
      if (response.getTransports) {
        out.response.transports = response.getTransports();
      }
    } else {
      out.response.authenticatorData = toB64url(response.authenticatorData);
      out.response.signature = toB64url(response.signature);
      if (response.userHandle) {
        out.response.userHandle = toB64url(response.userHandle);
      }
    }
    return out;
  }

  function post(url, token, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(body || {}),
    });
  }

  var supported = !!(window.PublicKeyCredential && navigator.credentials);

  document.querySelectorAll("[data-passkey-unsupported]").forEach(function (note) {
    note.hidden = supported;
  });
  if (!supported) {
    return;
  }
  document.querySelectorAll("[data-passkey-login]").forEach(function (section) {
    section.hidden = false;
  });

  // Each [data-passkey-form] holds one button (and, to register, a name field); the
  // button asks for options, runs the browser's passkey dialogue and posts the answer.
  document.querySelectorAll("[data-passkey-form]").forEach(function (form) {
    var kind = form.getAttribute("data-passkey-form");
    var status = form.querySelector("[data-passkey-status]");
    var button = form.querySelector("button");
    var token = form.getAttribute("data-csrf");
    form.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = "";
      button.disabled = true;
      post(form.getAttribute("data-options-url"), token)
        .then(function (response) {
          return response.json();
        })
        .then(function (options) {
          if (kind === "register") {
            return navigator.credentials.create({ publicKey: creationOptions(options) });
          }
          return navigator.credentials.get({ publicKey: requestOptions(options) });
        })
        .then(function (credential) {
          var nameInput = form.querySelector("input[name=name]");
          return post(form.getAttribute("data-action"), token, {
            credential: credentialJSON(credential),
            name: nameInput ? nameInput.value : "",
          });
        })
        .then(function (response) {
          return response.json();
        })
        .then(function (answer) {
          if (answer.ok) {
            var target = new URL(answer.next, window.location.href);
            if (target.pathname === window.location.pathname && target.search === window.location.search) {
              // Same page (settings): a hash change alone would not show the new passkey.
              window.location.hash = target.hash;
              window.location.reload();
            } else {
              window.location.assign(target.href);
            }
            return;
          }
          status.textContent = answer.message;
          button.disabled = false;
        })
        .catch(function () {
          // Cancelled by the person, timed out, or no passkey for this site.
          status.textContent = status.getAttribute("data-failed-text") || "";
          button.disabled = false;
        });
    });
  });
})();
