// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Copy buttons: <button data-copy-target="ID" data-copied-text="Copied">. Hidden until
  // this script runs, because without JavaScript they could not work.
  function announce(button, text) {
    var status = document.getElementById(button.getAttribute("data-status-target"));
    if (status) {
      status.textContent = text;
    }
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http fallback (the embedded demo): select the text and use execCommand.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      document.body.removeChild(area);
      if (ok) {
        resolve();
      } else {
        reject(new Error("copy failed"));
      }
    });
  }

  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy-target"));
      if (!source) {
        return;
      }
      copyText(source.textContent.trim()).then(
        function () {
          announce(button, button.getAttribute("data-copied-text"));
        },
        function () {
          announce(button, button.getAttribute("data-failed-text"));
        }
      );
    });
  });

  // Print buttons: <button data-print hidden>, shown once this script runs.
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });

  // A link to a folded <details> ("what this means" on the home grid) unfolds it, so the
  // jump lands on the text and not on a closed line.
  function openTarget() {
    var id = window.location.hash.slice(1);
    var target = id && document.getElementById(decodeURIComponent(id));
    if (target && target.tagName === "DETAILS") {
      target.open = true;
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();

  // Forms marked data-submit-once disable their submit button after the first submit so
  // a double click cannot send two requests (the second would be a second receipt).
  document.querySelectorAll("form[data-submit-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        window.setTimeout(function () {
          button.disabled = true;
        }, 0);
      });
    });
  });
})();
