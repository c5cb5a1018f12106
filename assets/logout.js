// Single logout progress: polls the run's status while the frames carry the LogoutRequests, shows each SP's
// state, and continues (finishes the run) when every SP has answered or after a time limit, so one SP that is
// down never holds the others up. Without JavaScript, the Continue button does the same.
(function () {
  var section = document.getElementById("logout");
  var form = document.getElementById("logout-finish");
  if (!section || !form) return;
  var run = section.getAttribute("data-run");
  var deadline = Date.now() + 10000;
  function update(targets) {
    var settled = true;
    targets.forEach(function (t) {
      var item = section.querySelector('li[data-app="' + t.app + '"]');
      if (item) {
        item.setAttribute("data-state", t.state);
        item.querySelector(".state").textContent = t.state;
      }
      if (t.state === "pending") settled = false;
    });
    return settled;
  }
  function poll() {
    fetch("/logout/" + encodeURIComponent(run) + "/status", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (targets) {
        if (update(targets) || Date.now() > deadline) form.submit();
        else setTimeout(poll, 500);
      })
      .catch(function () { if (Date.now() > deadline) form.submit(); else setTimeout(poll, 1000); });
  }
  setTimeout(poll, 500);
})();
