// The question builder's live plan. Progressive enhancement only: without this script the
// "Plan (free)" button posts the form and the page comes back with the plan.
(function () {
  "use strict";

  var form = document.querySelector("[data-question-form]");
  var box = document.querySelector("[data-plan]");
  if (!form || !box || !window.fetch || !window.FormData) {
    return;
  }
  var run = form.querySelector("[data-run]");
  var FOCUS_KEY = "workbench-focus";

  // After the form came back for another kind or purpose, put the keyboard where it was.
  try {
    var was = window.sessionStorage.getItem(FOCUS_KEY);
    window.sessionStorage.removeItem(FOCUS_KEY);
    if (was) {
      var target = form.querySelector(was);
      if (target) {
        target.focus();
      }
    }
  } catch (e) {
    /* storage may be off; focus then starts at the top, as without this script */
  }
  var hint = form.querySelector("[data-run-hint]");
  var timer = null;
  var latest = 0;

  function plan() {
    var asked = ++latest;
    var body = new FormData(form);
    body.set("action", "plan");
    fetch(form.getAttribute("data-plan-url"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        return response.json();
      })
      .then(function (answer) {
        if (asked !== latest) {
          return; // a newer plan is on its way
        }
        box.innerHTML = answer.html;
        var affordable = answer.ok && answer.plan && answer.plan.budget_after.affordable;
        run.disabled = !affordable;
        if (hint) {
          hint.hidden = !!answer.ok;
        }
      })
      .catch(function () {
        /* the Plan button still works */
      });
  }

  function soon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(plan, 300);
  }

  form.addEventListener("input", soon);
  form.addEventListener("change", function (event) {
    var name = event.target && event.target.name;
    // Another kind or purpose offers other fields: reload the form with its plan.
    if (name === "kind" || name === "purpose") {
      try {
        var selector = name === "kind" ? "input[name=kind][value=" + event.target.value + "]" : "select[name=purpose]";
        window.sessionStorage.setItem(FOCUS_KEY, selector);
      } catch (e) {
        /* see above */
      }
      var button = form.querySelector("button[value=plan]");
      if (form.requestSubmit && button) {
        form.requestSubmit(button);
      } else {
        form.submit();
      }
      return;
    }
    soon();
  });
})();
