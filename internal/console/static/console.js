// rgz-backup console: live updates of what runs now (server-sent events).
// The pages work without this file; it only keeps "Running now" current.
// No innerHTML: values from the server become text, never markup.
(function () {
  "use strict";
  var body = document.getElementById("running-rows");
  if (!body || !window.EventSource) { return; }
  var empty = body.textContent.trim();
  var source = new EventSource("/console/events");
  // The session ended (logout elsewhere, revoked, expired): to the login.
  source.addEventListener("ended", function () {
    source.close();
    window.location.href = "/console/login";
  });
  source.onmessage = function (e) {
    var running = JSON.parse(e.data);
    while (body.firstChild) { body.removeChild(body.firstChild); }
    if (running.length === 0) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = 6; td.textContent = empty;
      tr.appendChild(td); body.appendChild(tr); return;
    }
    running.forEach(function (r) {
      var tr = document.createElement("tr");
      [r.file, r.database, r.read, r.written, r.rate, r.elapsed].forEach(function (v) {
        var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  };
})();

// A restore test's page reloads itself while the test runs, so that the
// admin who started it watches it to the end.
(function () {
  "use strict";
  var state = document.getElementById("test-state");
  if (state && state.dataset.running === "true") {
    setTimeout(function () { window.location.reload(); }, 3000);
  }
})();
