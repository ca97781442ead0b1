// chatd's page: a WebSocket to /ws on the host that served it, JSON events in (see
// docs/protocol.md), the command language out. A WebSocket connection may be in several rooms:
// the page keeps, for each room it is in, its own scrollback, who is there, its topic and how
// many lines came while another room was shown. Each room's online list is kept from join,
// leave, rename, move and who events only, so what others type cannot change it. The rooms
// are remembered in the browser; when the connection drops it comes back by itself (1 s,
// doubling to 30 s, with jitter) with the same name, in the same rooms. A registered name is
// signed in to with its password (`/login`), kept only for this tab's session
// (sessionStorage), so that a reconnection signs in again; never in localStorage.
"use strict";

const $ = (id) => document.getElementById(id);
const SAVED = "chatd.rooms";
const PASSWORD = "chatd.password";
const state = {
  ws: null, name: "", delay: 1000, wanted: false, welcomed: false,
  // Lower-cased name to { name, log, online, topic, unread }; `current` is where plain lines go.
  joined: new Map(), current: null,
  // Rooms being joined again after a reconnection: not forgotten until the server has answered.
  rejoining: null,
  listed: new Set(), // every room of the last /rooms
  seen: new Set(), // ids of the chat lines shown: history after a reconnect shows the rest
};

const key = (room) => (room || "").toLowerCase();

function time(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/// The room's entry, made (with an empty log) the first time.
function room(name) {
  let r = state.joined.get(key(name));
  if (!r) {
    const log = document.createElement("div");
    log.className = "room-log";
    log.dataset.room = key(name);
    log.hidden = true;
    $("log").append(log);
    r = { name, log, online: new Map(), topic: "", unread: 0 };
    state.joined.set(key(name), r);
  }
  return r;
}

/// Where what is said while the page is in no room shows.
let nowhere = null;

/// The room an event is about, if this page is in it; else the one shown.
function target(name) {
  const r = (name && state.joined.get(key(name))) || state.joined.get(state.current);
  if (r) return r;
  if (!nowhere) {
    const log = document.createElement("div");
    log.className = "room-log";
    log.dataset.room = "";
    $("log").append(log);
    nowhere = { name: "", log, online: new Map(), topic: "", unread: 0 };
  }
  return nowhere;
}

function show(where, kind, text, ev, past) {
  const r = target(where);
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
  r.log.append(p);
  while (r.log.childElementCount > 2000) r.log.firstElementChild.remove();
  if (r !== nowhere && key(r.name) !== state.current && kind === "chat" && !past) {
    r.unread += 1;
    renderJoined();
  }
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function renderOnline() {
  const ul = $("online");
  ul.replaceChildren();
  const r = state.joined.get(state.current);
  if (!r) return;
  [...r.online.values()].sort((a, b) => a.localeCompare(b)).forEach((n) => {
    const li = document.createElement("li");
    li.textContent = n === state.name ? `${n} (you)` : n;
    ul.append(li);
  });
}

/// The rooms this page is in: each to switch to, with its unread count and a button to leave.
function renderJoined() {
  const ul = $("joined");
  ul.replaceChildren();
  [...state.joined.values()].forEach((r) => {
    const li = document.createElement("li");
    li.dataset.room = key(r.name);
    li.classList.toggle("current", key(r.name) === state.current);
    const go = document.createElement("button");
    go.type = "button";
    go.className = "switch";
    go.textContent = `#${r.name}`;
    go.addEventListener("click", () => send(`/join ${r.name}`));
    const unread = document.createElement("span");
    unread.className = "unread";
    unread.textContent = r.unread > 0 ? String(r.unread) : "";
    unread.setAttribute("aria-label", `${r.unread} unread`);
    const leave = document.createElement("button");
    leave.type = "button";
    leave.className = "leave";
    leave.textContent = "×";
    leave.title = `leave #${r.name}`;
    leave.setAttribute("aria-label", leave.title);
    leave.addEventListener("click", () => send(`/part ${r.name}`));
    li.append(go, unread, leave);
    ul.append(li);
  });
}

/// Shows `name`'s room (or, with none, says so).
function setCurrent(name) {
  state.current = name ? key(name) : null;
  const r = state.joined.get(state.current);
  state.joined.forEach((x) => { x.log.hidden = x !== r; });
  if (nowhere) nowhere.log.hidden = !!r;
  if (r) r.unread = 0;
  const title = r ? `#${r.name}` : "no room";
  $("title").textContent = `chatd: ${title}`;
  document.title = `${title}: chatd`;
  $("topic").textContent = r ? r.topic : "";
  renderJoined();
  renderOnline();
  const log = $("log");
  log.scrollTop = log.scrollHeight;
}

function forget(name) {
  const r = state.joined.get(key(name));
  if (!r) return;
  r.log.remove();
  state.joined.delete(key(name));
}

/// The rooms, and the one shown, kept in the browser for the next visit.
function save() {
  const rooms = [...state.joined.values()].map((r) => r.name);
  const current = state.joined.get(state.current);
  try {
    localStorage.setItem(SAVED, JSON.stringify({ rooms, current: current ? current.name : null }));
  } catch { /* private mode: remembered for this visit only */ }
}

function saved() {
  try {
    const s = JSON.parse(localStorage.getItem(SAVED) || "null");
    if (s && Array.isArray(s.rooms)) return s;
  } catch { /* a broken entry is no entry */ }
  return null;
}

/// The account password of this tab's session, if one was given.
function password() {
  try { return sessionStorage.getItem(PASSWORD); } catch { return null; }
}

function keepPassword(pw) {
  try {
    if (pw) sessionStorage.setItem(PASSWORD, pw);
    else sessionStorage.removeItem(PASSWORD);
  } catch { /* no storage: it is asked again */ }
}

/// The password a typed `/login NAME PW`, `/register PW` or `/password OLD NEW` sets.
function typedPassword(line) {
  const w = line.trim().split(/\s+/);
  const cmd = w[0].toLowerCase();
  if (cmd === "/login" && w.length === 3) return w[2];
  if (cmd === "/register" && w.length === 2) return w[1];
  if (cmd === "/password" && w.length === 3) return w[2];
  return null;
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
  const id = `${ev.time} ${ev.id}`;
  if (state.seen.has(id)) return;
  if (state.seen.size > 5000) state.seen.clear();
  state.seen.add(id);
  if (ev.type === "me") show(ev.room, "chat", `* ${ev.from} ${ev.text}`, ev, past);
  else show(ev.room, "chat", ev.text, { ...ev, type: "chat" }, past);
}

/// The rooms this page is in and the one shown: this visit's after a reconnection, the last
/// visit's (kept in the browser) at the first connection.
function before() {
  if (!state.welcomed) return saved();
  const current = state.joined.get(state.current);
  return { rooms: [...state.joined.values()].map((r) => r.name), current: current && current.name };
}

/// After a welcome: back in the rooms `was`, the one shown last made current again (joined
/// last). The lobby, where every connection starts, is left if it was not one of them.
function rejoin(was) {
  if (!was || was.rooms.length === 0) return;
  state.rejoining = new Set(was.rooms.map(key));
  const current = key(was.current);
  const others = was.rooms.filter((r) => key(r) !== "lobby" && key(r) !== current);
  others.forEach((r) => send(`/join ${r}`));
  if (was.current && (current !== "lobby" || others.length > 0)) send(`/join ${was.current}`);
  if (!state.rejoining.has("lobby")) send("/part lobby");
  // Answered after every line above: the rooms not back by then are not coming back.
  send("/rooms");
}

const handlers = {
  welcome(ev) {
    const was = before();
    state.welcomed = true;
    room(ev.room).online = new Map([[ev.name.toLowerCase(), ev.name]]);
    if (!state.current) setCurrent(ev.room);
    show(ev.room, "notice", `connected as ${ev.name}, ${ev.online} online`, ev);
    // Back with the name and rooms we had (or asked for): signed in to it, with a password.
    const pw = password();
    if (state.name && pw) send(`/login ${state.name} ${pw}`);
    else if (state.name && state.name.toLowerCase() !== ev.name.toLowerCase()) send(`/nick ${state.name}`);
    else state.name = ev.name;
    rejoin(was);
    send("/who");
    send("/rooms");
  },
  chat(ev) { chatLine(ev, false); },
  me(ev) { chatLine(ev, false); },
  private(ev) {
    // One that waited for this sign-in says when it was sent.
    show(null, "private", ev.offline ? `(while you were away) ${ev.text}` : ev.text, ev);
  },
  join(ev) {
    const r = target(ev.room);
    ev.names.forEach((n) => r.online.set(n.toLowerCase(), n));
    renderOnline();
    // A storm of joins names the first few: the rest are asked for.
    if (ev.more > 0) send(`/who ${ev.room}`);
    const more = ev.more > 0 ? ` and ${ev.more} more` : "";
    show(ev.room, "notice", `${ev.names.join(", ")}${more} joined`, ev);
  },
  leave(ev) {
    target(ev.room).online.delete(ev.name.toLowerCase());
    renderOnline();
    show(ev.room, "notice", ev.reason ? `${ev.name} left (${ev.reason})` : `${ev.name} left`, ev);
  },
  rename(ev) {
    if (ev.you) {
      state.name = ev.new;
      state.joined.forEach((r) => {
        r.online.delete(ev.old.toLowerCase());
        r.online.set(ev.new.toLowerCase(), ev.new);
      });
      show(null, "notice", `you are now ${ev.new}`, ev);
    } else {
      const r = target(ev.room);
      r.online.delete(ev.old.toLowerCase());
      r.online.set(ev.new.toLowerCase(), ev.new);
      show(ev.room, "notice", `${ev.old} is now ${ev.new}`, ev);
    }
    renderOnline();
  },
  move(ev) {
    // A room this page has not listed yet: ask for the list again.
    if (!state.listed.has(key(ev.to))) send("/rooms");
    const r = target(ev.room);
    if (key(ev.room) === key(ev.to)) {
      r.online.set(ev.name.toLowerCase(), ev.name);
      show(ev.room, "notice", `${ev.name} came from #${ev.from}`, ev);
    } else {
      r.online.delete(ev.name.toLowerCase());
      show(ev.room, "notice", `${ev.name} went to #${ev.to}`, ev);
    }
    renderOnline();
  },
  room(ev) {
    const now = new Set(ev.rooms.map(key));
    const fresh = ev.rooms.filter((r) => !state.joined.has(key(r)) ||
      (state.rejoining && state.rejoining.has(key(r))));
    ev.rooms.forEach((r) => {
      room(r).name = r;
      if (state.rejoining) state.rejoining.delete(key(r));
    });
    [...state.joined.keys()].forEach((k) => {
      if (!now.has(k) && !(state.rejoining && state.rejoining.has(k))) forget(k);
    });
    if (ev.room) {
      const r = room(ev.room);
      r.online.set(state.name.toLowerCase(), state.name);
    }
    setCurrent(ev.room);
    if (ev.left) show(null, "notice", `you left #${ev.left}`, ev);
    if (ev.room && fresh.some((r) => key(r) === key(ev.room)))
      show(ev.room, "notice", `you are in #${ev.room} (${ev.here} here)`, ev);
    if (!ev.room) show(null, "notice", ev.text || "you are in no room", ev);
    fresh.forEach((r) => send(`/who ${r}`));
    if (fresh.length || ev.left) send("/rooms");
    save();
  },
  who(ev) {
    const r = state.joined.get(key(ev.room));
    if (r) {
      r.online = new Map(ev.names.map((n) => [n.toLowerCase(), n]));
      renderOnline();
    } else show(null, "notice", `online in #${ev.room} (${ev.names.length}): ${ev.names.join(", ")}`, ev);
  },
  rooms(ev) {
    state.listed = new Set(ev.rooms.map((r) => key(r.name)));
    if (state.rejoining) {
      // Every rejoin has been answered: what did not come back is gone.
      const gone = [...state.rejoining];
      state.rejoining = null;
      gone.forEach((k) => { if (k !== state.current) forget(k); });
      renderJoined();
      save();
    }
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
    const r = target(ev.room);
    r.topic = ev.text || "";
    if (key(ev.room) === state.current) $("topic").textContent = r.topic;
    if (ev.by) show(ev.room, "notice", `${ev.by} set the topic: ${ev.text}`, ev);
  },
  history(ev) { ev.lines.forEach((l) => chatLine(l, true)); },
  notice(ev) { show(null, "notice", ev.text, ev); },
  error(ev) {
    // A wrong password is not tried again at the next reconnection.
    if (ev.code === "wrong_login") keepPassword(null);
    if (ev.code === "name_registered")
      show(null, "error", `${ev.text} (or sign in with its password on the first screen)`, ev);
    else show(null, "error", ev.text, ev);
  },
  link(ev) { show(null, ev.up ? "notice" : "error", ev.text, ev); },
  shutdown(ev) { show(null, "error", ev.text, ev); },
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
    state.joined.forEach((r) => r.online.clear());
    renderOnline();
    if (!state.wanted) return;
    const wait = Math.round(state.delay * (0.5 + Math.random()));
    state.delay = Math.min(state.delay * 2, 30000);
    status(`disconnected${e.code ? ` (${e.code})` : ""}; reconnecting in ${Math.ceil(wait / 1000)} s`, true);
    setTimeout(connect, wait);
  };
}

function enter(name, pw) {
  state.name = name;
  keepPassword(pw);
  $("password").value = "";
  state.wanted = true;
  $("login").hidden = true;
  $("chat").hidden = false;
  $("line").focus();
  connect();
}

$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  enter($("name").value.trim(), $("password").value);
});

$("guest").addEventListener("click", () => enter("", null));

$("send").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("line");
  const line = input.value;
  if (!line.trim()) return;
  if (!send(line)) {
    show(null, "error", "not connected: the line was not sent", null);
    return;
  }
  const pw = typedPassword(line);
  if (pw) keepPassword(pw);
  // The server does not echo what one says: shown here as it is sent.
  const now = { time: new Date().toISOString() };
  if (line.startsWith("/me ")) show(null, "chat", `* ${state.name} ${line.slice(4)}`, now);
  else if (line.startsWith("/msg ")) {
    const [, to, ...rest] = line.split(" ");
    show(null, "private", `→ ${to}: ${rest.join(" ")}`, now);
  } else if (!line.startsWith("/") || line.startsWith("//"))
    show(null, "chat", line.startsWith("//") ? line.slice(1) : line,
      { ...now, type: "chat", from: state.name });
  input.value = "";
});

$("join").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("room").value.trim().replace(/^#/, "");
  if (name) send(`/join ${name}`);
  $("room").value = "";
  $("line").focus();
});
