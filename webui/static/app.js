// The customer dashboard: sign in with an API key, then usage, memories, keys, alerts,
// webhooks and invoices, all read and changed through the JSON API.
import { api, setCSRF, el, $, fill, num, usd, when, confirmButton, guarded, chart, tabs } from "./common.js";

const HOUR = 3600 * 1000;
const EVENTS = ["usage.threshold_reached", "usage.quota_exceeded", "billing.invoice_created",
  "billing.payment_failed", "memory.created", "memory.updated", "memory.deleted"];

let me = null; // {org, api_key}
let keyNames = new Map();

// ---- sign in and out ----

function signedOut() {
  me = null;
  clearInterval(liveTimer);
  setCSRF(null);
  $("#app").hidden = true;
  $("#who").hidden = true;
  $("#signout").hidden = true;
  $("#signin").hidden = false;
  $("#signin-key").focus();
}

function signedIn(s) {
  me = s;
  setCSRF(s.csrf_token);
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#who").hidden = false;
  $("#who").textContent = `${s.org.name} · ${s.org.plan} plan · ${s.api_key.mode} key ${s.api_key.prefix}…`;
  $("#signout").hidden = false;
  showPage();
}

$("#signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("#signin-key");
  const key = input.value.trim();
  input.value = ""; // the key leaves the page with this request and is not kept
  $("#signin-error").textContent = "";
  try {
    signedIn(await api("POST", "/v1/session", { api_key: key }));
  } catch (err) {
    $("#signin-error").textContent = err.message;
  }
});

$("#signout").addEventListener("click", async () => {
  try { await api("DELETE", "/v1/session"); } catch { /* the session may have ended already */ }
  signedOut();
  history.replaceState(null, "", location.pathname);
});

const isAdmin = () => me && me.api_key.scopes.includes("admin");

const guard = guarded(signedOut);

const showPage = tabs((page) => { if (me) guard(loaders[page]); });

// ---- usage ----

function bucketsToSeries(buckets) {
  return {
    xs: buckets.map((b) => Date.parse(b.start) / 1000),
    requests: buckets.map((b) => b.api_calls),
    tokens: buckets.map((b) => b.tokens_processed),
    memories: buckets.map((b) => b.memories_written),
  };
}

function card(label, used, limit) {
  const c = el("div", { class: "stat" }, el("span", { class: "label" }, label), el("strong", {}, used));
  if (limit !== undefined) {
    if (limit === null) c.append(el("span", { class: "sub" }, "no limit"));
    else {
      c.append(el("span", { class: "sub" }, `of ${num(limit)}`));
      const raw = Number(String(used).replace(/[^0-9.]/g, ""));
      c.append(el("meter", { min: 0, max: limit, value: Math.min(raw, limit), "aria-label": label + " against the plan's limit" }));
    }
  }
  return c;
}

function sumGroups(buckets) {
  const by = new Map();
  for (const b of buckets) {
    const g = by.get(b.group) || { api_calls: 0, tokens_processed: 0, memories_read: 0, memories_written: 0 };
    for (const k of Object.keys(g)) g[k] += b[k];
    by.set(b.group, g);
  }
  return [...by.entries()].sort((a, b) => b[1].api_calls - a[1].api_calls);
}

function groupRows(groups, name) {
  return groups.map(([g, v]) => el("tr", { "data-group": g },
    el("th", { scope: "row" }, name(g)), el("td", { class: "n" }, num(v.api_calls)),
    el("td", { class: "n" }, num(v.tokens_processed)), el("td", { class: "n" }, num(v.memories_read)),
    el("td", { class: "n" }, num(v.memories_written))));
}

async function loadUsage() {
  const gran = $("#granularity").value;
  const from = gran === "hour"
    ? new Date(Math.floor(Date.now() / HOUR) * HOUR - 47 * HOUR)
    : new Date(Date.now() - 30 * 24 * HOUR);
  const fromParam = gran === "hour" ? from.toISOString().slice(0, 19) + "Z" : from.toISOString().slice(0, 10);
  const q = `granularity=${gran}&from=${encodeURIComponent(fromParam)}`;
  $("#export-csv").href = `/v1/usage/history?${q}&format=csv`;
  $("#export-json").href = `/v1/usage/history?${q}&format=json`;
  if (isAdmin()) {
    const keys = await api("GET", "/v1/account/api-keys");
    keyNames = new Map(keys.api_keys.map((k) => [k.id, `${k.name} (${k.prefix}…)`]));
  }
  const [usage, hist, byEndpoint, byKey] = await Promise.all([
    api("GET", "/v1/usage"),
    api("GET", `/v1/usage/history?${q}`),
    api("GET", "/v1/usage/history?group_by=endpoint"),
    api("GET", "/v1/usage/history?group_by=api_key"),
  ]);
  const m = usage.limits.monthly, u = usage.usage;
  $("#period").replaceChildren(
    card("Requests", num(u.api_calls), m.api_calls),
    card("Tokens", num(u.tokens_processed), m.tokens),
    card("Memories stored", num(u.memories_stored), m.memories_stored),
    card("Embeddings", num(u.embeddings), m.embeddings),
    card("Cost so far", usd(usage.cost.total_usd)),
    el("div", { class: "stat", id: "projected" }, el("span", { class: "label" }, "Projected month-end cost"),
      el("strong", {}, usd(usage.cost.projected_total_usd)),
      el("span", { class: "sub" }, `${usage.plan} plan · ${when(usage.period.start).slice(0, 10)} to ${when(usage.period.end).slice(0, 10)}`)),
  );
  const s = bucketsToSeries(hist.buckets);
  chart($("#chart-requests"), s.xs, [{ label: "Requests", values: s.requests, color: "#2457c5" }], { bars: true });
  chart($("#chart-tokens"), s.xs, [{ label: "Tokens", values: s.tokens, color: "#8a3ffc" }], { bars: true });
  chart($("#chart-memories"), s.xs, [{ label: "Memories written", values: s.memories, color: "#198038" }], { bars: true });
  fill($("#usage-table"), hist.buckets.filter((b) => b.api_calls || b.tokens_processed || b.memories_written).reverse().map((b) =>
    el("tr", { "data-start": b.start }, el("th", { scope: "row" }, when(b.start)), el("td", { class: "n", "data-field": "requests" }, num(b.api_calls)),
      el("td", { class: "n" }, num(b.tokens_processed)), el("td", { class: "n" }, num(b.memories_written)))), "No requests in this range");
  fill($("#by-endpoint"), groupRows(sumGroups(byEndpoint.buckets), (g) => g));
  fill($("#by-key"), groupRows(sumGroups(byKey.buckets), (g) => keyNames.get(g) || g));
}

// Live mode reloads the usage page every 30 s while it is shown. Each reload is a few
// API calls of the signed-in key, so it is off by default.
let liveTimer = 0;
function live() {
  clearInterval(liveTimer);
  liveTimer = 0;
  if ($("#auto-refresh").checked && me && !$("#page-usage").hidden) liveTimer = setInterval(() => guard(loadUsage), 30_000);
}
$("#auto-refresh").addEventListener("change", live);
window.addEventListener("hashchange", live);

$("#granularity").addEventListener("change", () => guard(loadUsage));
$("#refresh").addEventListener("click", () => guard(loadUsage));

// ---- memories ----

let memCursor = null;
let memFilter = {};
let openMemory = null;

function memoryItem(m) {
  const text = m.text.length > 160 ? m.text.slice(0, 160) + "…" : m.text;
  return el("li", { "data-id": m.id },
    el("span", { class: "text" }, text),
    el("span", { class: "sub" }, [m.user_id ? `user ${m.user_id} · ` : "", `v${m.version} · ${when(m.updated_at)}`,
      m.relevance !== undefined ? ` · relevance ${m.relevance.toFixed(2)}` : ""].join("")),
    el("button", { type: "button", onclick: () => guard(() => viewMemory(m.id)) }, "View"));
}

async function listMemories(more) {
  let path = "/v1/memories?limit=20";
  if (memFilter.user_id) path += "&user_id=" + encodeURIComponent(memFilter.user_id);
  if (more && memCursor) path += "&cursor=" + encodeURIComponent(memCursor);
  const page = await api("GET", path);
  const items = page.memories.map(memoryItem);
  if (more) $("#memory-list").append(...items);
  else $("#memory-list").replaceChildren(...items);
  if (!more && items.length === 0) $("#memory-list").append(el("li", { class: "empty" }, "No memories"));
  memCursor = page.next_cursor;
  $("#memory-more").hidden = !memCursor;
}

async function searchMemories() {
  const q = $("#search-q").value.trim();
  memFilter = { user_id: $("#search-user").value.trim() || undefined };
  if (!q) return listMemories(false);
  const body = { context: q, max_memories: 20 };
  if (memFilter.user_id) body.user_id = memFilter.user_id;
  const res = await api("POST", "/v1/retrieve", body);
  $("#memory-list").replaceChildren(...res.memories.map(memoryItem));
  if (res.memories.length === 0) $("#memory-list").append(el("li", { class: "empty" }, "No memory matches"));
  $("#memory-more").hidden = true;
}

async function viewMemory(id) {
  const [m, h] = await Promise.all([api("GET", `/v1/memories/${id}`), api("GET", `/v1/memories/${id}/history`)]);
  openMemory = m;
  const field = (k, v) => [el("dt", {}, k), el("dd", {}, v)];
  $("#memory-fields").replaceChildren(
    ...field("ID", m.id), ...field("Text", m.text), ...field("Metadata", JSON.stringify(m.metadata || {})),
    ...field("User", m.user_id || "—"), ...field("Agent", m.agent_id || "—"), ...field("Session", m.session_id || "—"),
    ...field("Version", m.version), ...field("Created", when(m.created_at)), ...field("Updated", when(m.updated_at)),
    ...field("Expires", when(m.expires_at)));
  $("#memory-history").replaceChildren(...h.events.map((e) => el("li", {},
    el("strong", {}, e.event), ` ${when(e.at)} · ${e.source || ""}`,
    e.previous_text ? el("div", { class: "sub" }, "was: " + e.previous_text) : null,
    e.text ? el("div", {}, e.text) : null)));
  const box = $("#memory-detail");
  box.hidden = false;
  box.focus();
}

$("#search-form").addEventListener("submit", (ev) => { ev.preventDefault(); guard(searchMemories); });
$("#list-recent").addEventListener("click", () => { $("#search-q").value = ""; guard(searchMemories); });
$("#memory-more").addEventListener("click", () => guard(() => listMemories(true)));
$("#memory-close").addEventListener("click", () => { $("#memory-detail").hidden = true; openMemory = null; });
{
  const del = confirmButton("Delete memory", () => guard(async () => {
    const id = openMemory.id;
    await api("DELETE", `/v1/memories/${id}`);
    document.querySelector(`#memory-list li[data-id="${id}"]`)?.remove();
    $("#memory-detail").hidden = true;
    openMemory = null;
    $("#status").textContent = `Deleted ${id}`;
  }));
  del.id = "memory-delete";
  $("#memory-delete").replaceWith(del);
}

// ---- API keys ----

function needsAdmin(table) {
  fill(table, [], "This page needs a key with the admin scope");
}

function showSecret(box, code, value) {
  $(code).textContent = value;
  $(box).hidden = false;
  $(box).querySelector("button").focus();
}
$("#new-key-done").addEventListener("click", () => { $("#new-key-value").textContent = ""; $("#new-key").hidden = true; });
$("#new-secret-done").addEventListener("click", () => { $("#new-secret-value").textContent = ""; $("#new-secret").hidden = true; });

async function loadKeys() {
  if (!isAdmin()) return needsAdmin($("#keys-table"));
  const { api_keys } = await api("GET", "/v1/account/api-keys");
  const now = Date.now();
  fill($("#keys-table"), api_keys.map((k) => {
    const revoked = !!k.revoked_at;
    const expired = k.expires_at && Date.parse(k.expires_at) <= now;
    const status = revoked ? "revoked" : expired ? "expired" : k.expires_at ? `expires ${when(k.expires_at)}` : "active";
    const self = me.api_key.id === k.id;
    const actions = el("td", { class: "actions" });
    if (!revoked && !expired) {
      actions.append(confirmButton("Rotate", () => guard(async () => {
        const r = await api("POST", `/v1/account/api-keys/${k.id}/rotate`, {});
        showSecret("#new-key", "#new-key-value", r.api_key.key);
        await loadKeys();
      }), "secondary"));
      if (!self) actions.append(confirmButton("Revoke", () => guard(async () => {
        await api("DELETE", `/v1/account/api-keys/${k.id}`);
        await loadKeys();
      })));
      else actions.append(el("span", { class: "sub" }, "this session's key"));
    }
    return el("tr", { "data-key": k.id, "data-name": k.name },
      el("th", { scope: "row" }, k.name), el("td", {}, el("code", {}, k.prefix + "…")), el("td", {}, k.scopes.join(", ")),
      el("td", {}, k.mode), el("td", {}, when(k.last_used_at)), el("td", { "data-field": "status" }, status), actions);
  }));
}

$("#key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guard(async () => {
    const scopes = [...document.querySelectorAll("#key-form input[name=scope]:checked")].map((c) => c.value);
    const r = await api("POST", "/v1/account/api-keys", { name: $("#key-name").value, scopes, mode: $("#key-mode").value });
    $("#key-name").value = "";
    showSecret("#new-key", "#new-key-value", r.api_key.key);
    await loadKeys();
  });
});

// ---- alerts ----

async function loadAlerts() {
  if (!isAdmin()) return needsAdmin($("#alerts-table"));
  const { alerts } = await api("GET", "/v1/alerts");
  fill($("#alerts-table"), alerts.map((a) => el("tr", { "data-alert": a.id },
    el("th", { scope: "row" }, a.metric),
    el("td", {}, a.threshold_type === "percent_of_limit" ? `${a.threshold}% of limit` : a.metric === "monthly_spend" ? usd(a.threshold) : num(a.threshold)),
    el("td", {}, a.notify.join(", ")), el("td", {}, when(a.created_at)),
    el("td", { class: "actions" }, confirmButton("Delete", () => guard(async () => {
      await api("DELETE", `/v1/alerts/${a.id}`);
      await loadAlerts();
    }))))), "No alerts");
}

$("#alert-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guard(async () => {
    const notify = [...document.querySelectorAll("#alert-form input[name=notify]:checked")].map((c) => c.value);
    await api("POST", "/v1/alerts", { metric: $("#alert-metric").value, threshold_type: $("#alert-type").value,
      threshold: Number($("#alert-threshold").value), notify });
    await loadAlerts();
  });
});

// ---- webhooks ----

$("#webhook-events").append(...EVENTS.map((e) => el("label", {}, el("input", { type: "checkbox", name: "event", value: e }), " " + e)));

async function loadDeliveries(id) {
  const { deliveries } = await api("GET", `/v1/webhooks/${id}/deliveries?limit=20`);
  $("#deliveries").hidden = false;
  fill($("#deliveries-table"), deliveries.map((d) => el("tr", {}, el("th", { scope: "row" }, d.event), el("td", {}, d.status),
    el("td", { class: "n" }, d.attempts), el("td", {}, d.response_status ?? "—"), el("td", {}, when(d.created_at)))), "No deliveries yet");
}

async function loadWebhooks() {
  if (!isAdmin()) return needsAdmin($("#webhooks-table"));
  const { webhooks } = await api("GET", "/v1/webhooks");
  fill($("#webhooks-table"), webhooks.map((h) => el("tr", { "data-webhook": h.id },
    el("th", { scope: "row" }, h.url), el("td", {}, h.events.join(", ")), el("td", {}, when(h.created_at)),
    el("td", { class: "actions" },
      el("button", { type: "button", class: "secondary", onclick: () => guard(() => loadDeliveries(h.id)) }, "Deliveries"),
      confirmButton("Delete", () => guard(async () => {
        await api("DELETE", `/v1/webhooks/${h.id}`);
        $("#deliveries").hidden = true;
        await loadWebhooks();
      }))))), "No webhook endpoints");
}

$("#webhook-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  guard(async () => {
    const events = [...document.querySelectorAll("#webhook-form input[name=event]:checked")].map((c) => c.value);
    const h = await api("POST", "/v1/webhooks", { url: $("#webhook-url").value, events });
    $("#webhook-url").value = "";
    showSecret("#new-secret", "#new-secret-value", h.secret);
    await loadWebhooks();
  });
});

// ---- invoices ----

async function loadInvoices() {
  if (!isAdmin()) return needsAdmin($("#invoices-table"));
  const { invoices } = await api("GET", "/v1/billing/invoices?limit=24");
  fill($("#invoices-table"), invoices.map((inv) => el("tr", { "data-invoice": inv.id },
    el("th", { scope: "row" }, inv.period.start.slice(0, 7)), el("td", {}, inv.status),
    el("td", {}, el("details", {}, el("summary", {}, `${inv.lines.length} lines`),
      el("ul", {}, inv.lines.map((l) => el("li", {}, `${l.description}: ${num(l.quantity)} × ${usd(l.unit_price_usd)} = ${usd(l.amount_usd)}`))))),
    el("td", { class: "n" }, usd(inv.total_usd)))), "No invoices yet: one is made when a month closes");
}

const loaders = { usage: loadUsage, memories: () => searchMemories(), keys: loadKeys, alerts: loadAlerts, webhooks: loadWebhooks, invoices: loadInvoices };

// ---- start ----

guard(async () => {
  const s = await api("GET", "/v1/session");
  if (s.signed_in) signedIn(s);
  else signedOut();
});
