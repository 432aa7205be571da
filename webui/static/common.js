// Shared by both dashboards: calls to the JSON API with the session cookie, DOM and
// number helpers, and charts.
import uPlot from "./vendor/uPlot.esm.js";

// The session's CSRF token: held in memory only, sent on every write.
let csrf = null;
export function setCSRF(token) { csrf = token; }

export class APIError extends Error {
  constructor(message, status, code) { super(message); this.status = status; this.code = code; }
}

// api calls the JSON API and returns the envelope's data, or throws APIError.
export async function api(method, path, body) {
  const headers = {};
  const opts = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, opts);
  let env = null;
  try { env = await res.json(); } catch { /* not JSON: reported below */ }
  if (!env || !env.success) {
    throw new APIError(env?.error?.message || `The server answered ${res.status}`, res.status, env?.error?.code);
  }
  return env.data;
}

// el builds an element: el("td", {class: "n"}, "text", child…).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export const $ = (sel) => document.querySelector(sel);

// fill replaces a table's body rows.
export function fill(table, rows, emptyText = "Nothing yet") {
  const tbody = table.tBodies[0];
  tbody.replaceChildren(...rows);
  if (rows.length === 0) {
    const cols = table.tHead.rows[0].cells.length;
    tbody.append(el("tr", {}, el("td", { colspan: cols, class: "empty" }, emptyText)));
  }
}

const nf = new Intl.NumberFormat("en-US");
export const num = (n) => (n === null || n === undefined ? "—" : nf.format(n));
export function usd(v) {
  if (v === null || v === undefined) return "—";
  return (v < 0 ? "-$" : "$") + Math.abs(v).toFixed(2);
}
export function when(t) {
  if (!t) return "—";
  return new Date(t).toISOString().replace("T", " ").slice(0, 16) + " UTC";
}
export function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

// confirmButton is a button that asks once more before it acts: the first press turns
// it into "Confirm …", the second runs action.
export function confirmButton(label, action, cls = "danger") {
  const b = el("button", { type: "button", class: cls }, label);
  let armed = false;
  b.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      b.textContent = "Confirm " + label.toLowerCase();
      return;
    }
    b.disabled = true;
    try { await action(); } finally { b.disabled = false; }
  });
  b.addEventListener("blur", () => { armed = false; b.textContent = label; });
  return b;
}

// guarded makes the pages' runner of loaders and actions: failures are reported in
// the alert region, and a lost session (401) calls onSignedOut.
export function guarded(onSignedOut) {
  return async (fn) => {
    showError(null);
    try { await fn(); } catch (err) {
      if (err.status === 401) { onSignedOut(); return; }
      showError(err);
    }
  };
}

// showError puts a message in the page's alert region.
export function showError(err) {
  const s = $("#status");
  if (s) s.textContent = err ? (err.message || String(err)) : "";
}

const charts = new Map();

// chart draws (or redraws) a time series in box: xs in seconds, series as
// [{label, values, color}]; bars when bars is true.
export function chart(box, xs, series, { bars = false, money = false } = {}) {
  const old = charts.get(box);
  if (old) old.destroy();
  const width = Math.max(240, box.clientWidth || 600);
  const fmt = money ? (v) => usd(v) : (v) => num(v);
  const opts = {
    width, height: 200,
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    axes: [{}, { values: (u, vals) => vals.map(fmt), size: 70 }],
    series: [{}, ...series.map((s) => ({
      label: s.label, stroke: s.color, fill: s.color + "33", width: 2,
      value: (u, v) => (v === null || v === undefined ? "—" : fmt(v)),
      paths: bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
      points: { show: !bars && xs.length < 60 },
    }))],
  };
  // The canvas is a picture: its numbers are also said in words, for screen readers.
  box.setAttribute("role", "img");
  box.setAttribute("aria-label", series.map((s) => {
    const vals = s.values.filter((v) => v !== null && v !== undefined);
    const total = vals.reduce((a, b) => a + b, 0);
    return `${s.label}: ${fmt(total)} in all, ${fmt(vals.length ? vals[vals.length - 1] : 0)} in the latest period`;
  }).join("; "));
  const u = new uPlot(opts, [xs, ...series.map((s) => s.values)], box);
  charts.set(box, u);
  return u;
}

// Charts follow their box's width (phones, rotated screens).
let resizeTimer = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const [box, u] of charts) u.setSize({ width: Math.max(240, box.clientWidth || 600), height: 200 });
  }, 100);
});

// tabs shows the section the URL's hash names (#usage → #page-usage), first by default.
export function tabs(onShow) {
  const pages = [...document.querySelectorAll(".page")];
  const links = [...document.querySelectorAll(".tabs a")];
  const show = () => {
    const name = (location.hash || links[0].getAttribute("href")).slice(1);
    const page = document.getElementById("page-" + name) ? name : links[0].getAttribute("href").slice(1);
    for (const p of pages) p.hidden = p.id !== "page-" + page;
    for (const a of links) {
      if (a.getAttribute("href") === "#" + page) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    onShow(page);
  };
  window.addEventListener("hashchange", show);
  return show;
}
