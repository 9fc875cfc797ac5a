// The display board refreshes itself from /board.json and scrolls the open orders when they overflow.
(function () {
  "use strict";
  var body = document.body, src = body.dataset.src, every = Number(body.dataset.refresh || 5) * 1000;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function openRow(o) {
    var li = el("li");
    var no = el("span", "no", "#" + o.no);
    no.appendChild(el("small", null, o.status));
    li.appendChild(no);
    li.appendChild(el("span", "cat", o.category));
    var where = el("span", "where");
    where.appendChild(el("b", "grid", o.grid));
    if (o.location) where.appendChild(el("small", "loc", o.location));
    li.appendChild(where);
    li.appendChild(el("span", "when", o.time_wish || "-"));
    li.appendChild(el("span", "wait", o.waiting));
    return li;
  }

  function topRow(r) {
    var li = el("li");
    li.appendChild(el("span", "rank", String(r.rank)));
    li.appendChild(el("span", "name", r.name));
    li.appendChild(el("span", "team", r.team));
    li.appendChild(el("span", "done", r.done + " 单"));
    return li;
  }

  function fill(list, rows, make, none) {
    list.textContent = "";
    if (!rows.length) { list.appendChild(el("li", "none", none)); return; }
    rows.forEach(function (r) { list.appendChild(make(r)); });
  }

  function scroll() {
    var box = $("b-scroller"), list = $("b-open");
    box.classList.remove("scrolling");
    list.querySelectorAll(".copy").forEach(function (n) { n.remove(); });
    if (list.scrollHeight <= box.clientHeight + 4) return;
    Array.prototype.slice.call(list.children).forEach(function (n) {
      var copy = n.cloneNode(true);
      copy.classList.add("copy");
      copy.setAttribute("aria-hidden", "true");
      list.appendChild(copy);
    });
    box.style.setProperty("--scroll-seconds", Math.max(15, list.children.length * 2) + "s");
    box.classList.add("scrolling");
  }

  function update(d) {
    $("b-date").textContent = d.date;
    $("b-updated").textContent = d.updated;
    $("b-posted").textContent = d.today.posted;
    $("b-taken").textContent = d.today.taken;
    $("b-assigned").textContent = d.assigned_note;
    $("b-done").textContent = d.today.done;
    $("b-waiting").textContent = d.today.waiting;
    $("b-month").textContent = d.month;
    fill($("b-open"), d.open, openRow, "暂时没有等待接单的需求");
    fill($("b-top"), d.top, topRow, "本月还没有完成的订单");
    scroll();
    body.dataset.loaded = String(Number(body.dataset.loaded || 0) + 1);
  }

  function tick() {
    fetch(src, { cache: "no-store" }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) update(d); }).catch(function () {})
      .then(function () { setTimeout(tick, every); });
  }

  scroll();
  setTimeout(tick, every);
})();
