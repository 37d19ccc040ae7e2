// The eunomia server dashboard: plain JS over the server's own API (docs/server.md).
// No framework and no chart library: a task list, a live event table fed by the
// Server-Sent Events endpoint, SVG bar charts for sampled histograms, map tables.
"use strict";

const TOKEN_KEY = "eunomia-token";
const MAX_ROWS = 1000;              // live rows kept in the table
const $ = (id) => document.getElementById(id);

// -- the API ------------------------------------------------------------------------

class Unauthorized extends Error {}

async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const reply = await fetch(path, {method, headers,
    body: body === undefined ? undefined : JSON.stringify(body)});
  if (reply.status === 401) { showLogin(); throw new Unauthorized(); }
  const data = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(data.error || `HTTP ${reply.status}`);
  return data;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (className) td.className = className;
  return td;
}

function show(text) {
  return typeof text === "object" && text !== null ? JSON.stringify(text) : text;
}

// -- views and routing --------------------------------------------------------------

const VIEWS = ["login-view", "tasks-view", "task-view", "fleet-view"];
let timers = [];
let stream = null;

function only(view) {
  for (const id of VIEWS) $(id).hidden = id !== view;
}

function stopView() {
  timers.forEach(clearInterval);
  timers = [];
  if (stream) { stream.abort(); stream = null; }
}

function every(ms, fn) {
  fn();
  timers.push(setInterval(fn, ms));
}

function route() {
  stopView();
  const hash = location.hash || "#/";
  const task = hash.match(/^#\/task\/(\d+)$/);
  if (task) taskView(Number(task[1]));
  else if (hash === "#/fleet") fleetView();
  else tasksView();
}

function showLogin() {
  stopView();
  only("login-view");
  $("connection").textContent = "token needed";
  $("token-input").focus();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
  $("token-input").value = "";
  try {
    await api("GET", "/task");
    $("login-error").textContent = "";
    route();
  } catch (error) {
    if (!(error instanceof Unauthorized)) $("login-error").textContent = error.message;
    else $("login-error").textContent = "the server refused this token";
  }
});

// -- the task list ------------------------------------------------------------------

function actionButton(label, handler, className) {
  const button = document.createElement("button");
  button.textContent = label;
  if (className) button.className = className;
  button.addEventListener("click", handler);
  return button;
}

async function act(action, id) {
  try { await api("POST", `/${action}`, {id}); }
  catch (error) { if (!(error instanceof Unauthorized)) alert(error.message); }
}

function renderTasks(tasks) {
  const body = $("task-table").tBodies[0];
  body.replaceChildren();
  const replace = $("start-replace");
  const chosen = replace.value;
  replace.replaceChildren(new Option("none", ""));
  for (const task of tasks.slice().reverse()) {
    const row = body.insertRow();
    row.dataset.task = task.id;
    cell(row, task.id);
    const name = cell(row, "");
    const link = document.createElement("a");
    link.href = `#/task/${task.id}`;
    link.textContent = task.name;
    name.append(link);
    cell(row, task.status, `state ${task.status}`);
    cell(row, task.events, "number");
    cell(row, task.lost, "number");
    cell(row, task.dropped, "number");
    const actions = cell(row, "");
    actions.className = "actions";
    if (task.status === "running") actions.append(actionButton("Pause", () => act("pause", task.id)));
    if (task.status === "paused") actions.append(actionButton("Resume", () => act("resume", task.id)));
    if (["running", "paused", "starting"].includes(task.status)) {
      actions.append(actionButton("Stop", () => act("stop", task.id), "danger"));
      replace.append(new Option(`${task.id} ${task.name}`, String(task.id)));
    }
  }
  replace.value = [...replace.options].some((o) => o.value === chosen) ? chosen : "";
  $("no-tasks").hidden = tasks.length > 0;
}

function tasksView() {
  only("tasks-view");
  every(1000, async () => {
    try {
      const reply = await api("GET", "/task");
      $("connection").textContent = "connected";
      renderTasks(reply.tasks);
    } catch (error) {
      if (!(error instanceof Unauthorized)) $("connection").textContent = error.message;
    }
  });
}

function splitArgs(text) {
  const words = text.match(/"[^"]*"|'[^']*'|\S+/g) || [];
  return words.map((w) => w.replace(/^(["'])(.*)\1$/, "$2"));
}

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

$("start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("start-error").textContent = "";
  const file = $("start-file").files[0];
  const ref = $("start-ref").value.trim();
  const body = {extra_args: splitArgs($("start-args").value), export_json: true};
  if ($("start-replace").value) body.replace = Number($("start-replace").value);
  if (file) {
    body.program_data_buf = toBase64(await file.arrayBuffer());
    body.program_type = /\.ya?ml$/i.test(file.name) ? "yaml"
      : /\.wasm$/i.test(file.name) ? "wasm" : "json";
    if (body.program_type === "wasm") body.program_name = file.name;   // its argv[0]
  } else if (ref) {
    body.program_ref = ref;
  } else {
    $("start-error").textContent = "choose a package file, or give a URL or an image";
    return;
  }
  $("start-button").disabled = true;
  try {
    const started = await api("POST", "/task", body);
    $("start-form").reset();
    location.hash = `#/task/${started.id}`;
  } catch (error) {
    if (!(error instanceof Unauthorized)) $("start-error").textContent = error.message;
  } finally {
    $("start-button").disabled = false;
  }
});

// -- one task -----------------------------------------------------------------------

let columns = [];
let following = true;
let held = [];

function setColumns(names) {
  columns = names;
  const head = $("event-table").tHead.rows[0];
  head.replaceChildren();
  for (const name of names) {
    const th = document.createElement("th");
    th.textContent = name;
    head.append(th);
  }
}

function matchesFilter(row) {
  const filter = $("event-filter").value.trim().toLowerCase();
  return !filter || row.textContent.toLowerCase().includes(filter);
}

function addEventRow(entry) {
  let record;
  try { record = JSON.parse(entry.text); } catch { record = null; }
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    record = {text: entry.text};
  }
  if ("histogram" in record) return;         // a sampled histogram: drawn as a chart
  const missing = Object.keys(record).filter((k) => !columns.includes(k));
  if (missing.length) setColumns(columns.concat(missing));
  const body = $("event-table").tBodies[0];
  const row = body.insertRow(0);             // newest first
  row.className = "event";
  for (const name of columns) cell(row, show(record[name]));
  row.hidden = !matchesFilter(row);
  while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
}

function addMessage(entry) {
  const item = document.createElement("li");
  item.className = entry.kind;
  item.textContent = `${new Date(entry.timestamp * 1000).toLocaleTimeString()} ${entry.text}`;
  $("messages").prepend(item);
  while ($("messages").children.length > 100) $("messages").lastChild.remove();
}

let shown = 0;

function onEntry(kind, entry) {
  if (kind === "event") {
    shown += 1;
    if (following) addEventRow(entry); else held.push(entry);
    $("event-count").textContent = following ? `${shown} events`
      : `${shown} events, ${held.length} held while paused`;
  } else if (kind === "info" || kind === "error") {
    addMessage(entry);
  } else if (kind === "dropped") {
    addMessage({kind: "error", timestamp: Date.now() / 1000,
      text: `entries ${entry.from}..${entry.to - 1} left the bounded log before being shown`});
  }
}

// Server-Sent Events over fetch(): unlike EventSource it can send the bearer token in a
// header, so the token never appears in a URL.
async function follow(id, cursor) {
  const controller = new AbortController();
  stream = controller;
  const headers = {Accept: "text/event-stream"};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let next = cursor;
  try {
    const reply = await fetch(`/task/${id}/events?cursor=${cursor}`, {headers,
      signal: controller.signal});
    if (reply.status === 401) { showLogin(); return; }
    if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
    const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let kind = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) kind = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
          else if (line.startsWith("id: ")) next = Number(line.slice(4)) + 1;
        }
        if (!data) continue;
        if (kind === "end") { $("task-meta").dataset.ended = "1"; return; }
        onEntry(kind, JSON.parse(data));
      }
    }
  } catch (error) {
    if (controller.signal.aborted) return;
  }
  if (stream === controller) setTimeout(() => { if (stream === controller) follow(id, next); }, 2000);
}

const SVG = "http://www.w3.org/2000/svg";

function svg(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function bucketLabel(bucket, unit) {
  return `${bucket.low}${bucket.high !== bucket.low ? "–" + bucket.high : ""}${unit ? " " + unit : ""}`;
}

function histogramChart(title, histogram) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = `${title} (${histogram.total} in all)`;
  const buckets = histogram.buckets;
  const most = Math.max(1, ...buckets.map((b) => b.count));
  const width = Math.max(320, buckets.length * 28), height = 160, bottom = 40;
  const chart = svg("svg", {viewBox: `0 0 ${width} ${height + bottom}`, role: "img",
    "aria-label": title, class: "histogram"});
  const step = width / Math.max(1, buckets.length);
  buckets.forEach((bucket, i) => {
    const barHeight = bucket.count ? Math.max(2, (bucket.count / most) * height) : 0;
    const bar = svg("rect", {x: i * step + 2, y: height - barHeight, width: step - 4,
      height: barHeight, class: "bar", "data-count": bucket.count});
    const tip = svg("title", {});
    tip.textContent = `${bucketLabel(bucket, histogram.unit)}: ${bucket.count}`;
    bar.append(tip);
    chart.append(bar);
    if (buckets.length <= 24 || i % Math.ceil(buckets.length / 24) === 0) {
      const label = svg("text", {x: i * step + step / 2, y: height + 14, class: "axis",
        "text-anchor": "middle"});
      label.textContent = String(bucket.low);
      chart.append(label);
    }
  });
  figure.append(caption, chart);
  return figure;
}

function entriesTable(title, rows, note) {
  const wrap = document.createElement("div");
  wrap.className = "map";
  const heading = document.createElement("h4");
  heading.textContent = title + (note ? ` ${note}` : "");
  const scroll = document.createElement("div");
  scroll.className = "scroll";
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const name of ["key", "value"]) {
    const th = document.createElement("th");
    th.textContent = name;
    head.append(th);
  }
  const body = table.createTBody();
  for (const entry of rows) {
    const row = body.insertRow();
    cell(row, show(entry.key));
    cell(row, show(entry.value));
  }
  scroll.append(table);
  wrap.append(heading, scroll);
  return wrap;
}

function renderSamples(samples) {
  const charts = [];
  for (const sample of samples) {
    if (sample.kind === "histograms") {
      for (const h of sample.histograms) {
        const key = h.key === null || h.key === undefined ? "" : ` ${show(h.key)}`;
        charts.push(histogramChart(`${sample.map}${key}`, h));
      }
    } else {
      charts.push(entriesTable(sample.map, sample.entries, `(${sample.count} entries)`));
    }
  }
  $("histograms").replaceChildren(...charts);
  $("histogram-section").hidden = charts.length === 0;
}

function renderMaps(maps) {
  const tables = maps.map((m) => entriesTable(`${m.name} (${m.type})`, m.entries,
    m.error ? `: ${m.error}` : `: ${m.count}${m.more ? "+" : ""} of ${m.max_entries}`));
  $("maps").replaceChildren(...tables);
  $("map-section").hidden = tables.length === 0;
}

async function taskView(id) {
  only("task-view");
  shown = 0; held = []; following = true;
  $("event-follow").textContent = "Pause view";
  $("event-table").tBodies[0].replaceChildren();
  $("messages").replaceChildren();
  $("histograms").replaceChildren();
  $("maps").replaceChildren();
  $("task-error").textContent = "";
  let detail;
  try { detail = await api("GET", `/task/${id}`); }
  catch (error) {
    if (!(error instanceof Unauthorized)) $("task-error").textContent = error.message;
    return;
  }
  $("task-title").textContent = `Task ${detail.id}: ${detail.name}`;
  const fields = Object.values(detail.event_fields)[0] || [];
  setColumns(fields);
  const bind = (button, action) => { $(button).onclick = () => act(action, id); };
  bind("task-pause", "pause"); bind("task-resume", "resume"); bind("task-stop", "stop");
  every(1000, async () => {
    try {
      const now = await api("GET", `/task/${id}`);
      $("task-meta").textContent = `${now.status} · ${now.events} events · ${now.lost} lost · ` +
        `${now.dropped} dropped · programs: ${now.programs.map((p) => p.section || p.name).join(", ")}`;
      $("task-meta").dataset.status = now.status;
      if (now.sampled.length) renderSamples((await api("GET", `/task/${id}/samples`)).samples);
    } catch (error) {
      if (!(error instanceof Unauthorized)) $("task-error").textContent = error.message;
    }
  });
  every(2000, async () => {
    try { renderMaps((await api("GET", `/task/${id}/maps`)).maps); } catch { /* shown above */ }
  });
  follow(id, 0);
}

$("event-filter").addEventListener("input", () => {
  for (const row of $("event-table").tBodies[0].rows) row.hidden = !matchesFilter(row);
});

$("event-follow").addEventListener("click", () => {
  following = !following;
  $("event-follow").textContent = following ? "Pause view" : "Resume view";
  if (following) { held.forEach(addEventRow); held = []; }
});

// -- the fleet ----------------------------------------------------------------------

function fillTable(id, rows) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  for (const values of rows) {
    const row = body.insertRow();
    values.forEach((value) => cell(row, value));
  }
}

function labels(map) {
  return Object.entries(map || {}).map(([k, v]) => `${k}=${v}`).join(", ");
}

function fleetView() {
  only("fleet-view");
  every(2000, async () => {
    try {
      const fleet = await api("GET", "/fleet");
      fillTable("fleet-nodes", fleet.nodes.map((n) => [n.node, labels(n.labels), n.kernel, n.api]));
      fillTable("fleet-status", fleet.status.map((s) => [s.node, s.name, s.version, s.state,
        s.events, s.error]));
      fillTable("fleet-desired", fleet.desired.map((d) => [d.name, d.version,
        labels(d.selector) || "all nodes", d.source]));
    } catch (error) {
      if (!(error instanceof Unauthorized)) $("connection").textContent = error.message;
    }
  });
}

async function probeFleet() {
  try { await api("GET", "/fleet"); $("nav-fleet").hidden = false; } catch { /* not an agent */ }
}

window.addEventListener("hashchange", route);
route();
probeFleet();
