// The WeChat-like simulator: conversations on the left, the chat in the middle, live by server-sent events.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf"]').content;
  var state = { people: {}, convs: [], items: [], current: null, unread: {}, speakerFor: {}, lastSeq: 0, lastNo: null, bot: null };
  var $ = function (id) { return document.getElementById(id); };
  var listEl = $("conv-list"), selectEl = $("conv-select"), messagesEl = $("messages");
  var speakerEl = $("speaker"), textEl = $("text"), errorEl = $("send-error");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function conv(id) { return state.convs.find(function (c) { return c.id === id; }); }

  function initials(c) {
    if (c.kind === "direct") return c.title.slice(-2);
    return c.kind === "market" ? "市场" : c.title.replace(/.*?(第?[一二三四五六七八九十\d]+网格).*/, "$1").slice(0, 2);
  }

  function renderList() {
    listEl.textContent = "";
    selectEl.textContent = "";
    var lastKind = null;
    state.convs.forEach(function (c) {
      var section = c.kind === "direct" ? "私聊" : "群聊";
      if (section !== lastKind) { listEl.appendChild(el("li", "section", section)); lastKind = section; }
      var li = el("li"), b = el("button");
      b.type = "button";
      b.dataset.conv = c.id;
      b.setAttribute("aria-current", String(c.id === state.current));
      b.appendChild(el("span", "avatar " + c.kind, initials(c)));
      b.appendChild(el("span", "title", c.title + (c.role_name ? "（" + c.role_name + "）" : "")));
      if (state.unread[c.id]) b.appendChild(el("span", "unread", String(state.unread[c.id])));
      b.addEventListener("click", function () { select(c.id); });
      li.appendChild(b);
      listEl.appendChild(li);
      var opt = el("option", null, (c.kind === "direct" ? "私聊：" : "") + c.title + (state.unread[c.id] ? " (" + state.unread[c.id] + ")" : ""));
      opt.value = c.id;
      opt.selected = c.id === state.current;
      selectEl.appendChild(opt);
    });
  }

  function renderText(bubble, text) {
    // @mentions as WeChat writes them: "@name" followed by U+2005
    text.split(/(@[^\s@\u2005]+\u2005)/).forEach(function (part) {
      if (!part) return;
      if (/^@[^\s@\u2005]+\u2005$/.test(part)) bubble.appendChild(el("span", "mention", part));
      else bubble.appendChild(document.createTextNode(part));
    });
  }

  function messageNode(item) {
    var li = el("li", item.kind === "bot" ? "bot" : "person me");
    li.dataset.seq = item.seq;
    var meta = el("span", "meta", item.sender_name + (item.kind === "bot" ? "（机器人）" : roleOf(item.sender_id)) + " " + item.at);
    if (item.via) meta.appendChild(el("span", "via", item.via));
    var bubble = el("div", "bubble");
    renderText(bubble, item.text);
    li.appendChild(meta);
    li.appendChild(bubble);
    return li;
  }

  function roleOf(id) { var p = state.people[id]; return p ? "（" + p.role_name + "）" : ""; }

  function renderMessages() {
    messagesEl.textContent = "";
    var shown = state.items.filter(function (i) { return i.conv === state.current; });
    if (!shown.length) messagesEl.appendChild(el("li", "empty", "还没有消息。右边有可以直接点的示例。"));
    shown.forEach(function (i) { messagesEl.appendChild(messageNode(i)); });
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  function renderSpeakers() {
    var c = conv(state.current);
    speakerEl.textContent = "";
    if (!c) return;
    c.members.forEach(function (id) {
      var p = state.people[id];
      var opt = el("option", null, (p ? p.name + "（" + p.role_name + "）" : id));
      opt.value = id;
      speakerEl.appendChild(opt);
    });
    var wanted = state.speakerFor[c.id];
    if (wanted && c.members.indexOf(wanted) >= 0) speakerEl.value = wanted;
  }

  function select(id) {
    if (!conv(id)) return;
    state.current = id;
    state.unread[id] = 0;
    var c = conv(id);
    $("conv-title").textContent = c.title;
    $("conv-sub").textContent = c.kind === "direct" ? "与机器人私聊" : c.members.length + " 人";
    renderList();
    renderSpeakers();
    renderMessages();
    hideError();
  }

  function add(item) {
    if (item.seq <= state.lastSeq) return;
    state.lastSeq = item.seq;
    state.items.push(item);
    var m = item.kind === "bot" && /订单号\s*#(\d+)/.exec(item.text);
    if (m) {
      state.lastNo = m[1];
      document.querySelectorAll(".hint-btn .what").forEach(function (w) {
        w.textContent = w.dataset.template.replace(/\{no\}/g, state.lastNo);
      });
    }
    if (item.conv === state.current) {
      var empty = messagesEl.querySelector(".empty");
      if (empty) empty.remove();
      messagesEl.appendChild(messageNode(item));
      messagesEl.scrollTop = messagesEl.scrollHeight;
    } else {
      state.unread[item.conv] = (state.unread[item.conv] || 0) + 1;
      renderList();
    }
  }

  function showError(text) { errorEl.textContent = text; errorEl.hidden = false; }
  function hideError() { errorEl.hidden = true; }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json(); });
  }

  $("composer").addEventListener("submit", function (e) {
    e.preventDefault();
    var text = textEl.value.trim();
    if (!state.current) { showError("请先在左边选一个群或私聊"); return; }
    if (!text) { showError("请输入要发送的内容"); return; }
    state.speakerFor[state.current] = speakerEl.value;
    post("/sim/send", { conv: state.current, speaker: speakerEl.value, text: text }).then(function (res) {
      if (!res.ok) { showError(Object.values(res.errors).join("；")); return; }
      hideError();
      textEl.value = "";
      add(res.item);
    }).catch(function () { showError("发送失败，请检查网络后重试"); });
  });

  textEl.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("composer").requestSubmit(); }
  });
  selectEl.addEventListener("change", function () { select(selectEl.value); });
  $("toggle-help").addEventListener("click", function () { document.body.classList.toggle("show-help"); });
  $("close-help").addEventListener("click", function () { document.body.classList.remove("show-help"); });
  speakerEl.addEventListener("change", function () { state.speakerFor[state.current] = speakerEl.value; });

  document.querySelectorAll(".hint-btn").forEach(function (b) {
    b.addEventListener("click", function () {
      state.speakerFor[b.dataset.conv] = b.dataset.speaker;
      select(b.dataset.conv);
      textEl.value = b.dataset.text.replace(/\{no\}/g, state.lastNo || "1");
      document.body.classList.remove("show-help");
      textEl.focus();
    });
  });

  $("add-person").addEventListener("submit", function (e) {
    e.preventDefault();
    var name = e.target.elements.name.value.trim(), err = $("person-error");
    post("/sim/people", { name: name, conv: state.current || "" }).then(function (res) {
      if (!res.ok) { err.textContent = Object.values(res.errors).join("；"); err.hidden = false; return; }
      err.hidden = true;
      e.target.elements.name.value = "";
      load(res);
      state.speakerFor[state.current] = name;
      renderSpeakers();
    });
  });

  function load(data) {
    state.people = {};
    data.people.forEach(function (p) { state.people[p.id] = p; });
    state.convs = data.conversations;
    renderList();
  }

  function connect() {
    var source = new EventSource("/sim/events?after=" + state.lastSeq);
    source.onmessage = function (e) { add(JSON.parse(e.data)); };
    source.onerror = function () { document.body.classList.add("offline"); };
    source.onopen = function () { document.body.classList.remove("offline"); };
  }

  fetch("/sim/state.json", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
    state.bot = data.bot;
    load(data);
    data.items.forEach(add);
    state.unread = {};
    select(state.convs.length ? state.convs[0].id : null);
    document.body.dataset.ready = "1";
    connect();
  });
})();
