// The operator dashboard: revenue, cost and margin per org and month, cost per
// operation, model efficiency and storage, from GET /v1/admin/analytics.
import { api, setCSRF, el, $, fill, num, usd, bytes, guarded, chart, tabs } from "./common.js";

const monthOf = (d) => d.toISOString().slice(0, 7);
const months = [];
{
  const now = new Date();
  for (let i = 0; i < 12; i++) months.push(monthOf(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - i, 1))));
  $("#period").replaceChildren(...months.map((m) => el("option", { value: m }, m)));
}

let signed = false;

function signedOut() {
  signed = false;
  setCSRF(null);
  $("#app").hidden = true;
  $("#signout").hidden = true;
  $("#signin").hidden = false;
  $("#signin-secret").focus();
}

function signedIn(s) {
  signed = true;
  setCSRF(s.csrf_token);
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#signout").hidden = false;
  showPage();
}

$("#signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const secret = $("#signin-secret").value;
  $("#signin-secret").value = "";
  $("#signin-error").textContent = "";
  try {
    signedIn(await api("POST", "/v1/admin/session", { [$("#signin-with").value]: secret }));
  } catch (err) {
    $("#signin-error").textContent = err.message;
  }
});

$("#signout").addEventListener("click", async () => {
  try { await api("DELETE", "/v1/admin/session"); } catch { /* already ended */ }
  signedOut();
});

const guard = guarded(signedOut);

let current = null; // the selected month's analytics
const cache = new Map();

async function analytics(period, fresh) {
  if (fresh || !cache.has(period)) cache.set(period, await api("GET", `/v1/admin/analytics?period=${period}`));
  return cache.get(period);
}

const money = (v) => el("td", { class: v < 0 ? "n neg" : "n" }, usd(v));

function stat(label, value, sub, attrs = {}) {
  return el("div", { class: "stat", ...attrs }, el("span", { class: "label" }, label), el("strong", {}, value), sub ? el("span", { class: "sub" }, sub) : null);
}

const PLANS = ["free", "starter", "pro", "enterprise"];

// planSelect changes an org's plan on the spot; the month's revenue follows.
function planSelect(o) {
  const sel = el("select", { "aria-label": `Plan of ${o.name}`, "data-field": "plan" },
    PLANS.map((p) => el("option", { value: p, selected: p === o.plan }, p)));
  sel.addEventListener("change", () => guard(async () => {
    await api("PATCH", `/v1/admin/orgs/${o.org_id}`, { plan: sel.value });
    cache.clear();
    await loadMargins(true);
  }));
  return sel;
}

async function loadMargins(fresh) {
  current = await analytics($("#period").value, fresh);
  const t = current.totals, inf = current.infrastructure;
  $("#totals").replaceChildren(stat("Revenue", usd(t.revenue_usd)), stat("Cost", usd(t.cost_usd)),
    stat("Gross margin", usd(t.margin_usd), t.revenue_usd > 0 ? `${(100 * t.margin_usd / t.revenue_usd).toFixed(1)}% of revenue` : null),
    stat("Requests", num(t.api_calls)), stat("Orgs", num(current.orgs.length)));
  $("#infra-note").textContent = `Infrastructure: ${usd(inf.monthly_usd)} a month, ${Math.round(inf.request_share * 100)}% allocated by requests and ` +
    `${Math.round((1 - inf.request_share) * 100)}% by stored bytes. Revenue is the plan price plus overage, as /v1/usage prices it.`;
  fill($("#orgs-table"), current.orgs.map((o) => el("tr", { "data-org": o.org_id },
    el("th", { scope: "row" }, o.name, el("div", { class: "sub" }, o.org_id)), el("td", {}, planSelect(o)),
    el("td", { class: "n" }, num(o.api_calls)), money(o.revenue_usd), money(o.model_cost_usd), money(o.infrastructure_cost_usd),
    money(o.cost_usd), el("td", { class: o.margin_usd < 0 ? "n neg" : "n", "data-field": "margin" }, usd(o.margin_usd)),
    el("td", { class: "n" }, o.margin_percent === null ? "—" : o.margin_percent.toFixed(1) + "%"))), "No orgs");
  // Six months of totals for the chart; the months fetched are remembered.
  const six = months.slice(0, 6).reverse();
  const all = await Promise.all(six.map((m) => analytics(m, false).catch(() => null)));
  const xs = six.map((m) => Date.parse(m + "-01T00:00:00Z") / 1000);
  chart($("#chart-margin"), xs, [
    { label: "Revenue", values: all.map((a) => (a ? a.totals.revenue_usd : null)), color: "#198038" },
    { label: "Cost", values: all.map((a) => (a ? a.totals.cost_usd : null)), color: "#b3261e" },
  ], { money: true });
}

async function loadOperations(fresh) {
  current = await analytics($("#period").value, fresh);
  fill($("#endpoints-table"), current.endpoints.map((e) => el("tr", {},
    el("th", { scope: "row" }, el("code", {}, e.endpoint)), el("td", { class: "n" }, num(e.api_calls)), el("td", { class: "n" }, num(e.tokens)),
    money(e.model_cost_usd), money(e.infrastructure_cost_usd), money(e.cost_per_1k_calls_usd))), "No requests this month");
}

async function loadStorage(fresh) {
  current = await analytics($("#period").value, fresh);
  const m = current.models, c = m.retrieval_cache;
  $("#models").replaceChildren(
    stat("Model calls", num(m.model_calls), `${num(m.tokens_input)} in · ${num(m.tokens_output)} out`),
    stat("Tokens per model call", m.tokens_per_model_call === null ? "—" : num(m.tokens_per_model_call)),
    stat("Model cost", usd(m.model_cost_usd)),
    stat("Embeddings", num(m.embeddings)),
    stat("Prefilter tokens saved (estimate)", num(m.prefilter_tokens_saved), "prompt tokens not sent to models",
      { "data-field": "prefilter-saved", title: "An estimate, not a count: per model call of /v1/query (re-ranking) and /v1/query/answer, " +
        "(memories in the query's scope − memories sent) × the mean size of those sent, at about 4 bytes of text a token." }),
    stat("Retrieval cache hit rate", c.hit_rate === null ? "—" : (100 * c.hit_rate).toFixed(1) + "%", `${num(c.hits)} hits · ${num(c.misses)} misses since start`));
  const xs = current.days.map((d) => Date.parse(d.day + "T00:00:00Z") / 1000);
  chart($("#chart-storage"), xs, [{ label: "Memories written", values: current.days.map((d) => d.memories_written), color: "#2457c5" }], { bars: true });
  const total = current.totals.stored_bytes || 1;
  fill($("#storage-table"), current.orgs.map((o) => el("tr", { "data-org": o.org_id },
    el("th", { scope: "row" }, o.name), el("td", { class: "n" }, num(o.memories_stored)), el("td", { class: "n" }, bytes(o.stored_bytes)),
    el("td", { class: "n" }, (100 * o.stored_bytes / total).toFixed(1) + "%"))), "No orgs");
}

const loaders = { margins: loadMargins, operations: loadOperations, storage: loadStorage };
let page = "margins";
const showPage = tabs((p) => { page = p; if (signed) guard(() => loaders[p](false)); });
$("#period").addEventListener("change", () => guard(() => loaders[page](false)));
$("#refresh").addEventListener("click", () => { cache.clear(); guard(() => loaders[page](true)); });

guard(async () => {
  const s = await api("GET", "/v1/admin/session");
  if (s.signed_in) signedIn(s);
  else signedOut();
});
