// chatd's page: a WebSocket to /ws on the host that served it, JSON events in (see the README's
// table), the command language out. The online list is kept from join, leave, rename, move and
// who events only, so what others type cannot change it. When the connection drops it comes
// back by itself (1 s, doubling to 30 s, with jitter) with the same name and room.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  ws: null, name: "", room: "lobby", online: new Map(), rooms: new Set(), delay: 1000,
  wanted: false, wantRoom: null,
  seen: new Set(), // ids of the chat lines shown: history after a reconnect shows the rest
};

function time(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function show(kind, text, ev, past) {
  const log = $("log");
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const p = document.createElement("p");
  p.className = "msg " + kind + (past ? " past" : "");
  const t = document.createElement("time");
  t.dateTime = ev && ev.time ? ev.time : "";
  t.textContent = ev && ev.time ? time(ev.time) : "";
  p.append(t);
  if (ev && (ev.type === "chat" || ev.type === "private")) {
    const from = document.createElement("span");
    from.className = "from";
    from.textContent = ev.type === "private" ? `*${ev.from}* ` : `<${ev.from}> `;
    p.append(from);
  }
  p.append(document.createTextNode(text));
  log.append(p);
  while (log.childElementCount > 2000) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function renderOnline() {
  const ul = $("online");
  ul.replaceChildren();
  [...state.online.values()].sort((a, b) => a.localeCompare(b)).forEach((n) => {
    const li = document.createElement("li");
    li.textContent = n === state.name ? `${n} (you)` : n;
    ul.append(li);
  });
}

function setRoom(room) {
  state.room = room;
  $("title").textContent = `chatd: #${room}`;
  document.title = `#${room}: chatd`;
  $("topic").textContent = "";
}

function status(text, down) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("down", !!down);
}

function send(line) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) {
    state.ws.send(line);
    return true;
  }
  return false;
}

function chatLine(ev, past) {
  // An id with its time: a restarted server numbers its lines from 1 again.
  const key = `${ev.time} ${ev.id}`;
  if (state.seen.has(key)) return;
  if (state.seen.size > 5000) state.seen.clear();
  state.seen.add(key);
  if (ev.type === "me") show("chat", `* ${ev.from} ${ev.text}`, ev, past);
  else show("chat", ev.text, { ...ev, type: "chat" }, past);
}

const handlers = {
  welcome(ev) {
    state.online = new Map([[ev.name.toLowerCase(), ev.name]]);
    setRoom(ev.room);
    show("notice", `connected as ${ev.name}, ${ev.online} online`, ev);
    // Back with the name and room we had (or asked for).
    if (state.name && state.name.toLowerCase() !== ev.name.toLowerCase()) send(`/nick ${state.name}`);
    else state.name = ev.name;
    if (state.wantRoom && state.wantRoom !== "lobby") send(`/join ${state.wantRoom}`);
    send("/who");
    send("/rooms");
  },
  chat(ev) { chatLine(ev, false); },
  me(ev) { chatLine(ev, false); },
  private(ev) { show("private", ev.text, ev); },
  join(ev) {
    if (ev.room.toLowerCase() === state.room.toLowerCase())
      ev.names.forEach((n) => state.online.set(n.toLowerCase(), n));
    renderOnline();
    // A storm of joins names the first few: the rest are asked for.
    if (ev.more > 0) send("/who");
    const more = ev.more > 0 ? ` and ${ev.more} more` : "";
    show("notice", `${ev.names.join(", ")}${more} joined`, ev);
  },
  leave(ev) {
    state.online.delete(ev.name.toLowerCase());
    renderOnline();
    show("notice", ev.reason ? `${ev.name} left (${ev.reason})` : `${ev.name} left`, ev);
  },
  rename(ev) {
    state.online.delete(ev.old.toLowerCase());
    state.online.set(ev.new.toLowerCase(), ev.new);
    if (ev.you) state.name = ev.new;
    renderOnline();
    show("notice", ev.you ? `you are now ${ev.new}` : `${ev.old} is now ${ev.new}`, ev);
  },
  move(ev) {
    // A room this page has not listed yet: ask for the list again.
    if (!state.rooms.has(ev.to.toLowerCase())) send("/rooms");
    if (ev.to.toLowerCase() === state.room.toLowerCase()) {
      state.online.set(ev.name.toLowerCase(), ev.name);
      show("notice", `${ev.name} came from #${ev.from}`, ev);
    } else {
      state.online.delete(ev.name.toLowerCase());
      show("notice", `${ev.name} went to #${ev.to}`, ev);
    }
    renderOnline();
  },
  room(ev) {
    setRoom(ev.room);
    state.wantRoom = ev.room;
    state.online = new Map([[state.name.toLowerCase(), state.name]]);
    renderOnline();
    show("notice", `you are in #${ev.room} (${ev.here} here)`, ev);
    send("/who");
    send("/rooms");
  },
  who(ev) {
    if (ev.room.toLowerCase() === state.room.toLowerCase()) {
      state.online = new Map(ev.names.map((n) => [n.toLowerCase(), n]));
      renderOnline();
    }
  },
  rooms(ev) {
    state.rooms = new Set(ev.rooms.map((r) => r.name.toLowerCase()));
    const ul = $("rooms");
    ul.replaceChildren();
    ev.rooms.forEach((r) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `#${r.name} (${r.here})`;
      b.addEventListener("click", () => send(`/join ${r.name}`));
      li.append(b);
      ul.append(li);
    });
  },
  topic(ev) {
    if (ev.room.toLowerCase() === state.room.toLowerCase()) $("topic").textContent = ev.text || "";
    if (ev.by) show("notice", `${ev.by} set the topic: ${ev.text}`, ev);
  },
  history(ev) { ev.lines.forEach((l) => chatLine(l, true)); },
  notice(ev) { show("notice", ev.text, ev); },
  error(ev) { show("error", ev.text, ev); },
  link(ev) { show(ev.up ? "notice" : "error", ev.text, ev); },
  shutdown(ev) { show("error", ev.text, ev); },
};

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  status("connecting…");
  const ws = new WebSocket(`${scheme}//${location.host}/ws`);
  state.ws = ws;
  ws.onopen = () => {
    state.delay = 1000;
    status(`connected to ${location.host}`);
  };
  ws.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    const h = handlers[ev.type];
    if (h) h(ev);
  };
  ws.onclose = (e) => {
    if (state.ws !== ws) return;
    state.ws = null;
    state.online.clear();
    renderOnline();
    if (!state.wanted) return;
    const wait = Math.round(state.delay * (0.5 + Math.random()));
    state.delay = Math.min(state.delay * 2, 30000);
    status(`disconnected${e.code ? ` (${e.code})` : ""}; reconnecting in ${Math.ceil(wait / 1000)} s`, true);
    setTimeout(connect, wait);
  };
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  state.name = $("name").value.trim();
  state.wanted = true;
  $("login").hidden = true;
  $("chat").hidden = false;
  $("line").focus();
  connect();
});

$("send").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("line");
  const line = input.value;
  if (!line.trim()) return;
  if (!send(line)) {
    show("error", "not connected: the line was not sent", null);
    return;
  }
  // The server does not echo what one says: shown here as it is sent.
  const now = { time: new Date().toISOString() };
  if (line.startsWith("/me ")) show("chat", `* ${state.name} ${line.slice(4)}`, now);
  else if (line.startsWith("/msg ")) {
    const [, to, ...rest] = line.split(" ");
    show("private", `→ ${to}: ${rest.join(" ")}`, now);
  } else if (!line.startsWith("/") || line.startsWith("//"))
    show("chat", line.startsWith("//") ? line.slice(1) : line, { ...now, type: "chat", from: state.name });
  input.value = "";
});

$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  const room = $("room").value.trim().replace(/^#/, "");
  if (room) send(`/join ${room}`);
  $("room").value = "";
  $("line").focus();
});
