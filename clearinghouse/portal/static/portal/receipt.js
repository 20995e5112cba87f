// Checks a consent receipt's Ed25519 signature in the browser (WebCrypto), against the
// published key: the same canonical JSON the server signs (keys sorted, no spaces, UTF-8,
// non-ASCII unescaped). Progressive enhancement: hidden until this script runs.
(function () {
  "use strict";

  function canonical(value) {
    if (Array.isArray(value)) {
      return "[" + value.map(canonical).join(",") + "]";
    }
    if (value !== null && typeof value === "object") {
      return (
        "{" +
        Object.keys(value)
          .sort()
          .map(function (key) {
            return JSON.stringify(key) + ":" + canonical(value[key]);
          })
          .join(",") +
        "}"
      );
    }
    return JSON.stringify(value);
  }

  function fromBase64(text) {
    var raw = atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes;
  }

  var box = document.querySelector("[data-receipt-check]");
  var data = document.getElementById("receipt-data");
  if (!box || !data) {
    return;
  }
  var result = box.querySelector("[data-receipt-result]");
  var button = box.querySelector("button");
  box.hidden = false;

  function show(kind) {
    result.textContent = box.getAttribute("data-" + kind + "-text");
    result.setAttribute("data-outcome", kind);
  }

  button.addEventListener("click", function () {
    var receipt = JSON.parse(data.textContent);
    if (!window.crypto || !window.crypto.subtle) {
      show("unsupported");
      return;
    }
    button.disabled = true;
    fetch(box.getAttribute("data-keys-url"), { credentials: "omit" })
      .then(function (response) {
        return response.json();
      })
      .then(function (published) {
        var key = (published.keys || []).filter(function (k) {
          return k.id === receipt.key_id;
        })[0];
        if (!key) {
          return false;
        }
        return window.crypto.subtle
          .importKey("raw", fromBase64(key.public_key), { name: "Ed25519" }, false, ["verify"])
          .then(function (publicKey) {
            var message = new TextEncoder().encode(canonical(receipt.payload));
            return window.crypto.subtle.verify({ name: "Ed25519" }, publicKey, fromBase64(receipt.signature), message);
          });
      })
      .then(
        function (ok) {
          show(ok ? "ok" : "bad");
          button.disabled = false;
        },
        function (error) {
          show(error && error.name === "NotSupportedError" ? "unsupported" : "bad");
          button.disabled = false;
        }
      );
  });
})();
