// The order table refreshes its rows every 10 seconds (server-rendered, so escaping stays on the server).
(function () {
  "use strict";
  var table = document.getElementById("orders");
  if (!table) return;
  var url = table.dataset.refresh, body = table.tBodies[0], count = document.getElementById("count");

  function refresh() {
    if (document.hidden) { setTimeout(refresh, 10000); return; }
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var tmp = document.createElement("tbody");
        tmp.innerHTML = html;  // our own server-rendered, escaped rows
        body.replaceWith(tmp);
        body = tmp;
        if (count) count.textContent = tmp.querySelectorAll("td[data-label='单号']").length;
      }).catch(function () {})
      .then(function () { setTimeout(refresh, 10000); });
  }
  setTimeout(refresh, 10000);
})();
