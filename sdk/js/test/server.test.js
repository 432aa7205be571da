// The SDK against the real memoryd binary: every call of the customer API, on a server
// without a language model and, for answers and a running job's cancel, with a stand-in
// chat model speaking the OpenAI wire format.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import {
  AuthenticationError,
  ConfirmationRequiredError,
  IdempotencyConflictError,
  InsufficientScopeError,
  InvalidRequestError,
  LLMNotConfiguredError,
  MemoryAPIError,
  MemoryClient,
  NotFoundError,
  RateLimitError,
} from "../dist/index.js";
import { haveGo, recordLastMonth, startChatStandIn, startServer } from "./support.js";

let server;
let client;
// Each test works on its own user, so tests do not see each other's memories.
const newUser = () => "u_" + randomUUID().slice(0, 12);

before(async () => {
  server = await startServer();
  client = new MemoryClient({ apiKey: server.apiKey, baseUrl: server.baseUrl });
});
after(() => server?.close());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns something truthy, or 10 s pass (then returns its last value). */
async function waitFor(check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value || Date.now() > deadline) return value;
    await sleep(50);
  }
}

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe("memories", () => {
  test("create, get, update, history, delete", async () => {
    const userId = newUser();
    const m = await client.memories.create({ text: "User prefers dark mode", userId, metadata: { ui_theme: "dark" } });
    assert.match(m.id, /^mem_/);
    assert.equal(m.userId, userId);
    assert.equal(m.version, 1);
    assert.equal(m.agentId, null);
    assert.deepEqual(m.metadata, { ui_theme: "dark" }); // metadata keys are the caller's: not camelCased
    assert.ok(m.createdAt);

    assert.deepEqual(await client.memories.get(m.id), m);

    const updated = await client.memories.update(m.id, { text: "User prefers light mode" });
    assert.equal(updated.version, 2);
    assert.equal(updated.text, "User prefers light mode");

    const events = await client.memories.history(m.id);
    assert.deepEqual(events.map((e) => e.event), ["ADD", "UPDATE"]);
    assert.equal(events[1].previousText, "User prefers dark mode");

    assert.deepEqual(await client.memories.delete(m.id), { id: m.id, deleted: true });
    const err = await client.memories.get(m.id).catch((e) => e);
    assert.ok(err instanceof NotFoundError && err instanceof MemoryAPIError);
    assert.equal(err.code, "MEMORY_NOT_FOUND");
    assert.equal(err.status, 404);
    assert.match(err.requestId, /^req_/);
  });

  test("invalid requests name the field", async () => {
    let err = await client.memories.create({ text: "" }).catch((e) => e);
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.details.field, "text");
    err = await client.memories.batchCreate([{ text: "fine" }, { text: "bad", metadata: 3 }]).catch((e) => e);
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.field, "memories[1].metadata");
  });

  test("batchCreate and listAll over several pages", async () => {
    const userId = newUser();
    const created = await client.memories.batchCreate(
      [0, 1, 2, 3, 4].map((i) => ({ text: `fact ${i}`, userId, metadata: { i } })),
    );
    assert.deepEqual(created.map((m) => m.text), ["fact 0", "fact 1", "fact 2", "fact 3", "fact 4"]);

    const page = await client.memories.list({ userId, limit: 2 });
    assert.equal(page.memories.length, 2);
    assert.ok(page.nextCursor);

    const all = await collect(client.memories.listAll({ userId, limit: 2 }));
    assert.deepEqual(all.map((m) => m.id).sort(), created.map((m) => m.id).sort());
  });

  test("deleteAll needs confirmation", async () => {
    const userId = newUser();
    await client.memories.batchCreate([{ text: "a", userId }, { text: "b", userId }]);
    const keep = await client.memories.create({ text: "someone else", userId: newUser() });

    await assert.rejects(client.memories.deleteAll({ userId }), ConfirmationRequiredError);
    assert.deepEqual(await client.memories.deleteAll({ userId, confirm: true }), { deleted: 2 });
    assert.deepEqual(await collect(client.memories.listAll({ userId })), []);
    assert.equal((await client.memories.get(keep.id)).id, keep.id);
  });

  test("an Idempotency-Key replays, and conflicts with another body", async () => {
    const userId = newUser();
    const idempotencyKey = randomUUID();
    const first = await client.memories.create({ text: "once", userId }, { idempotencyKey });
    const again = await client.memories.create({ text: "once", userId }, { idempotencyKey });
    assert.equal(again.id, first.id);
    assert.equal((await collect(client.memories.listAll({ userId }))).length, 1);

    const err = await client.memories.create({ text: "another", userId }, { idempotencyKey }).catch((e) => e);
    assert.ok(err instanceof IdempotencyConflictError);
    assert.equal(err.status, 409);
  });

  test("each call gets its own Idempotency-Key", async () => {
    const userId = newUser();
    const a = await client.memories.create({ text: "same", userId });
    const b = await client.memories.create({ text: "same", userId });
    assert.notEqual(a.id, b.id);
  });
});

describe("account and keys", () => {
  test("account", async () => {
    const account = await client.account.get();
    assert.equal(account.org.id, server.orgId);
    assert.equal(account.org.name, "sdk-js");
    assert.equal(account.org.plan, "enterprise");
    assert.ok(account.apiKey.scopes.includes("admin"));
    assert.equal(typeof account.limits.requestsPerMinute, "number");
  });

  test("the first-start key belongs to the default org", async () => {
    assert.match(server.bootstrapKey, /^mem_live_/);
    const other = new MemoryClient({ apiKey: server.bootstrapKey, baseUrl: server.baseUrl });
    assert.equal((await other.account.get()).org.name, "default");
  });

  test("create, list, rotate, revoke", async () => {
    const created = await client.keys.create({ name: "reader", scopes: ["read"], mode: "test" });
    assert.match(created.key, /^mem_test_/);
    assert.deepEqual([created.name, created.scopes, created.mode], ["reader", ["read"], "test"]);

    const listed = (await client.keys.list()).find((k) => k.id === created.id);
    assert.ok(listed);
    assert.equal(listed.key, undefined); // the secret is never listed
    assert.equal(listed.revokedAt, null);

    const reader = new MemoryClient({ apiKey: created.key, baseUrl: server.baseUrl });
    assert.equal((await reader.account.get()).apiKey.id, created.id);
    const denied = await reader.memories.create({ text: "not allowed" }).catch((e) => e);
    assert.ok(denied instanceof InsufficientScopeError);
    assert.equal(denied.requiredScope, "write");

    const rotated = await client.keys.rotate(created.id, { gracePeriodSeconds: 0 });
    assert.notEqual(rotated.id, created.id);
    assert.match(rotated.key, /^mem_test_/);
    const expired = await reader.account.get().catch((e) => e);
    assert.ok(expired instanceof AuthenticationError);
    assert.equal(expired.code, "INVALID_API_KEY");

    assert.deepEqual(await client.keys.revoke(rotated.id), { id: rotated.id, revoked: true });
    const revoked = new MemoryClient({ apiKey: rotated.key, baseUrl: server.baseUrl });
    await assert.rejects(revoked.account.get(), AuthenticationError);

    const missing = await client.keys.revoke("key_doesnotexist").catch((e) => e);
    assert.ok(missing instanceof NotFoundError);
    assert.equal(missing.code, "KEY_NOT_FOUND");
  });

  test("an unknown key", async () => {
    const bad = new MemoryClient({ apiKey: "mem_live_" + "x".repeat(32), baseUrl: server.baseUrl });
    const err = await bad.memories.list().catch((e) => e);
    assert.ok(err instanceof AuthenticationError);
    assert.equal(err.status, 401);
  });
});

describe("usage", () => {
  test("usage and its history", async () => {
    await client.memories.create({ text: "counted", userId: newUser() });
    const usage = await client.usage.get();
    assert.equal(usage.plan, "enterprise");
    assert.ok(usage.period.start < usage.period.end);
    for (const metric of ["apiCalls", "memoriesWritten", "tokensProcessed"]) {
      assert.equal(typeof usage.usage[metric], "number", metric);
    }
    assert.equal(typeof usage.cost.totalUsd, "number");

    const history = await client.usage.history({ granularity: "day" });
    assert.ok(history.buckets.length >= 1);
    assert.equal(typeof history.buckets.at(-1).apiCalls, "number");

    const csv = await client.usage.history({ format: "csv", groupBy: "endpoint" });
    assert.match(csv, /^start,group,/);
  });
});

describe("usage history", () => {
  test("by hour and endpoint", async () => {
    await client.retrieve({ context: "anything at all", userId: newUser() });
    const history = await client.usage.history({ granularity: "hour", groupBy: "endpoint" });
    const groups = new Set(history.buckets.map((b) => b.group));
    assert.ok(groups.has("POST /v1/retrieve"), [...groups].join(", "));
    for (const bucket of history.buckets) {
      assert.match(bucket.start, /:00:00Z$/);
      assert.equal(typeof bucket.apiCalls, "number");
    }
  });
});

const FACTS = [
  ["User works as a nurse at the city hospital", { category: "work" }],
  ["User prefers dark mode interfaces", { category: "preference" }],
  ["User has a dog named Biscuit", { category: "pets" }],
];

describe("retrieval", () => {
  let userId;
  before(async () => {
    userId = newUser();
    await client.memories.batchCreate(FACTS.map(([text, metadata]) => ({ text, metadata, userId })));
    // Another user's memory with the same words must never come back.
    await client.memories.create({ text: "User works as a nurse", userId: newUser() });
  });

  test("retrieve ranks by relevance", async () => {
    const { memories } = await client.retrieve({ context: "What does the user do for work?", userId });
    assert.equal(memories.length, 3);
    assert.equal(memories[0].text, FACTS[0][0]);
    const scores = memories.map((m) => m.relevance);
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
    assert.ok(scores.every((s) => s >= 0 && s <= 1), String(scores));
    assert.deepEqual(new Set(memories.map((m) => m.userId)), new Set([userId]));
    assert.deepEqual(memories[0].metadata, { category: "work" });
  });

  test("threshold, limit and filters", async () => {
    const top = await client.retrieve({ context: "dark mode", userId, maxMemories: 1 });
    assert.deepEqual(top.memories.map((m) => m.text), [FACTS[1][0]]);

    // Relevance is shown to four decimals but compared unrounded: stay just below it.
    const relevanceThreshold = top.memories[0].relevance - 0.001;
    const above = await client.retrieve({ context: "dark mode", userId, relevanceThreshold });
    assert.deepEqual(above.memories.map((m) => m.text), [FACTS[1][0]]);

    const pets = await client.retrieve({
      context: "What does the user like?", userId, filters: { metadata: { category: "pets" } },
    });
    assert.deepEqual(pets.memories.map((m) => m.text), [FACTS[2][0]]);

    const none = await client.retrieve({
      context: "dark mode", userId, filters: { createdAfter: new Date("2999-01-01T00:00:00Z") },
    });
    assert.deepEqual(none.memories, []);
  });

  test("query without a model is retrieval", async () => {
    const params = { context: "What does the user do for work?", userId, maxMemories: 2 };
    const query = await client.query(params);
    const retrieve = await client.retrieve(params);
    assert.deepEqual(query.memories.map((m) => [m.id, m.relevance]), retrieve.memories.map((m) => [m.id, m.relevance]));
  });

  test("invalid retrieval names the field", async () => {
    let err = await client.retrieve({ context: "", userId }).catch((e) => e);
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.details.field, "context");
    err = await client.query({ context: "work", relevanceThreshold: 2 }).catch((e) => e);
    assert.equal(err.details.field, "relevance_threshold");
  });

  test("queryWithAnswer needs a model", async () => {
    const err = await client
      .queryWithAnswer({ context: "What does the user do for work?", userId, promptTemplate: "Answer briefly: {question}" })
      .catch((e) => e);
    assert.ok(err instanceof LLMNotConfiguredError, String(err));
    assert.deepEqual([err.status, err.code], [501, "LLM_NOT_CONFIGURED"]);
    assert.match(err.requestId, /^req_/);
  });
});

describe("jobs", () => {
  test("re-embed everything and wait", async () => {
    await client.memories.batchCreate([0, 1, 2].map((i) => ({ text: `fact ${i}`, userId: newUser() })));
    const job = await client.batch.embeddings();
    assert.match(job.id, /^job_/);
    assert.equal(job.type, "embeddings");
    assert.ok(["queued", "running", "succeeded"].includes(job.status), job.status);

    const done = await client.jobs.wait(job, { pollIntervalMs: 50, timeoutMs: 30_000 });
    assert.equal(done.status, "succeeded");
    assert.equal(done.error, null);
    assert.ok(done.progress.total >= 3);
    assert.deepEqual([done.progress.done, done.progress.failed], [done.progress.total, 0]);
    assert.equal(done.result.memoriesEmbedded, done.progress.total);
    assert.ok(done.finishedAt);
    assert.equal((await client.jobs.get(job.id)).status, "succeeded");
  });

  test("re-embed some", async () => {
    const m = await client.memories.create({ text: "just this one", userId: newUser() });
    const job = await client.batch.embeddings({ memoryIds: [m.id] });
    const done = await client.jobs.wait(job.id, { pollIntervalMs: 50, timeoutMs: 30_000 });
    assert.deepEqual([done.status, done.progress.total, done.result.memoriesEmbedded], ["succeeded", 1, 1]);
  });

  test("unknown ids", async () => {
    let err = await client.jobs.get("job_doesnotexist").catch((e) => e);
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.code, "JOB_NOT_FOUND");
    err = await client.batch.embeddings({ memoryIds: ["mem_doesnotexist"] }).catch((e) => e);
    assert.ok(err instanceof NotFoundError);
    assert.equal(err.code, "MEMORY_NOT_FOUND");
  });
});

// Without a model, extraction runs the rule-based extractor, and says so.
describe("extraction", () => {
  test("extract, wait, and cancel", async () => {
    const userId = newUser();
    await client.memories.create({ text: "I am allergic to peanuts.", userId });
    const job = await client.batch.extract({
      userId,
      metadata: { source: "chat" },
      messages: [
        { role: "user", content: "Hello! I am allergic to peanuts. My daughter Mia starts school in May.", createdAt: "2026-04-02T09:00:00Z" },
        { role: "assistant", content: "Good to know. I will remember that." },
        { role: "user", content: "Can you suggest a snack? I prefer savoury food." },
      ],
    });
    assert.match(job.id, /^job_/);
    assert.deepEqual([job.type, job.status], ["extract", "queued"]);

    const done = await client.jobs.wait(job, { pollIntervalMs: 50, timeoutMs: 30_000 });
    assert.deepEqual([done.status, done.result.extractor], ["succeeded", "rules"]);
    assert.deepEqual(done.result.events.map((e) => e.event), ["NOOP", "ADD", "ADD"]);
    assert.deepEqual([done.progress.total, done.progress.done, done.result.memoriesCreated], [3, 3, 2]);
    const texts = (await collect(client.memories.listAll({ userId }))).map((m) => m.text).sort();
    assert.deepEqual(texts, ["I am allergic to peanuts.", "I prefer savoury food.", "My daughter Mia starts school in May."]);
    const added = await client.memories.get(done.result.events[1].memoryId);
    assert.deepEqual(added.metadata, { source: "chat", refers_to: "2026-04-02T09:00:00Z" }); // metadata keys are not camelCased
    assert.deepEqual((await client.memories.history(added.id)).map((e) => [e.event, e.source]), [["ADD", "extract"]]);

    const err = await client.jobs.cancel(done).catch((e) => e);
    assert.ok(err instanceof InvalidRequestError, String(err));
    assert.equal(err.details.status, "succeeded");
    const missing = await client.jobs.cancel("job_doesnotexist").catch((e) => e);
    assert.ok(missing instanceof NotFoundError);
    assert.equal(missing.code, "JOB_NOT_FOUND");
  });

  test("invalid messages name the field", async () => {
    let err = await client.batch.extract({ messages: [{ role: "robot", content: "beep" }] }).catch((e) => e);
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.field, "messages[0].role");
    err = await client.batch.extract({ messages: [] }).catch((e) => e);
    assert.equal(err.field, "messages");
  });
});

// A server with a chat model (a local stand-in): grounded answers, and a running
// extraction canceled while its model call is outstanding.
describe("with a model", () => {
  let model;
  let modelServer;
  let modelClient;
  before(async () => {
    model = await startChatStandIn((name) =>
      name === "stand-in-answer" ? JSON.stringify({ answer: "Dark mode.", grounded: true, memories: [0] }) : JSON.stringify({ facts: [] }));
    modelServer = await startServer({ env: model.env });
    modelClient = new MemoryClient({ apiKey: modelServer.apiKey, baseUrl: modelServer.baseUrl });
  });
  after(async () => {
    await modelServer?.close();
    await model?.close();
  });

  test("queryWithAnswer", async () => {
    const userId = newUser();
    const dark = await modelClient.memories.create({ text: "User prefers dark mode interfaces", userId });
    await modelClient.memories.create({ text: "User has a dog named Biscuit", userId });
    const calls = model.requests.length;

    const answer = await modelClient.queryWithAnswer({
      context: "Which theme does the user like, dark mode?", userId, promptTemplate: "Answer in two words: {question}",
    });
    assert.deepEqual([answer.response, answer.grounded, answer.model], ["Dark mode.", true, "stand-in-answer"]);
    assert.deepEqual(answer.memories.map((m) => m.id), [dark.id]);
    assert.ok(answer.memories[0].relevance > 0);
    const sent = model.requests[calls];
    assert.equal(sent.model, "stand-in-answer");
    assert.equal(sent.messages.at(-1).content, "Answer in two words: Which theme does the user like, dark mode?");
    assert.ok(sent.messages[0].content.includes("User prefers dark mode interfaces"));

    // Nothing relevant: the model is not asked, and the answer says it does not know.
    const unknown = await modelClient.queryWithAnswer({ context: "What is the capital of France?", userId: newUser() });
    assert.deepEqual([unknown.grounded, unknown.memories], [false, []]);
    assert.equal(unknown.response, "I don't know: nothing I remember answers that.");
    assert.equal(model.requests.length, calls + 1);
  });

  test("cancel a running extraction", async () => {
    model.held = true; // the extraction model answers only once released
    try {
      const calls = model.requests.length;
      const job = await modelClient.batch.extract({ messages: [{ role: "user", content: "I moved to Lisbon last spring." }], userId: newUser() });
      assert.ok(await waitFor(() => model.requests.length > calls), "the job never asked the model");
      assert.equal((await modelClient.jobs.get(job.id)).status, "running");

      const canceled = await modelClient.jobs.cancel(job);
      assert.deepEqual([canceled.id, canceled.status], [job.id, "canceled"]);
      assert.ok(canceled.finishedAt);
      assert.equal((await modelClient.jobs.cancel(job.id)).status, "canceled"); // again: the same answer
      model.release();
      assert.equal((await modelClient.jobs.wait(job, { pollIntervalMs: 50, timeoutMs: 10_000 })).status, "canceled");
    } finally {
      model.release();
    }
  });
});

describe("audit log", () => {
  test("pages, the iterator and JSON lines", async () => {
    const m = await client.memories.create({ text: "audited", userId: newUser() });
    await client.memories.get(m.id);
    const page = await client.account.audit({ limit: 2 });
    assert.deepEqual(page.events.map((e) => e.endpoint), ["GET /v1/memories/{id}", "POST /v1/memories"]);
    assert.ok(page.nextCursor);
    const [first] = page.events;
    assert.match(first.id, /^aud_/);
    assert.deepEqual([first.orgId, first.status], [server.orgId, 200]);
    assert.match(first.userAgent, /^memory-api-js\//);
    assert.match(first.requestId, /^req_/);

    const events = await collect(client.account.auditAll({ limit: 3 }));
    const ids = events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(events.length > 3, "more than one page of 3");
    // The newest is the audit call above (a call is logged once answered), then the page.
    assert.equal(events[0].endpoint, "GET /v1/account/audit");
    assert.deepEqual(ids.slice(1, 3), page.events.map((e) => e.id));

    const exported = (await client.account.audit({ format: "jsonl" })).trim().split("\n").map((l) => JSON.parse(l).id);
    assert.deepEqual([...exported].sort(), exported); // oldest first
    for (const id of ids) assert.ok(exported.includes(id), id);

    const err = await client.account.audit({ format: "xml" }).catch((e) => e);
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.field, "format");
  });
});

describe("alerts", () => {
  test("create, list, delete", async () => {
    const alert = await client.alerts.create({ metric: "api_calls", threshold: 80, thresholdType: "percent_of_limit", notify: ["email"] });
    assert.match(alert.id, /^alr_/);
    assert.deepEqual([alert.metric, alert.threshold, alert.thresholdType, alert.notify], ["api_calls", 80, "percent_of_limit", ["email"]]);
    assert.equal(alert.lastTriggeredAt, null);
    assert.ok((await client.alerts.list()).some((a) => a.id === alert.id));

    assert.deepEqual(await client.alerts.delete(alert.id), { id: alert.id, deleted: true });
    assert.ok(!(await client.alerts.list()).some((a) => a.id === alert.id));
    await assert.rejects(client.alerts.delete(alert.id), NotFoundError);

    const err = await client.alerts
      .create({ metric: "api_calls", threshold: 80, thresholdType: "percent_of_limit", notify: ["email", "sms"] })
      .catch((e) => e);
    assert.ok(err instanceof InvalidRequestError);
    assert.equal(err.field, "notify[1]");
  });
});

describe("webhooks", () => {
  test("create, deliver, list deliveries, delete", async () => {
    const received = [];
    const receiver = createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        received.push({ id: req.headers["webhook-id"], body: JSON.parse(Buffer.concat(chunks).toString()) });
        res.writeHead(204).end();
      });
    });
    await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${receiver.address().port}/hooks`;
    try {
      const hook = await client.webhooks.create({ url, events: ["memory.created", "memory.deleted"] });
      assert.match(hook.id, /^whk_/);
      assert.match(hook.secret, /^whsec_/);
      assert.deepEqual([hook.url, hook.events], [url, ["memory.created", "memory.deleted"]]);
      const listed = (await client.webhooks.list()).find((w) => w.id === hook.id);
      assert.equal(listed.secret, undefined); // shown once

      const created = [];
      for (const i of [0, 1, 2]) created.push(await client.memories.create({ text: `event ${i}`, userId: newUser() }));
      assert.ok(await waitFor(() => received.length >= 3), JSON.stringify(received));
      const sent = received.filter((r) => r.body.event === "memory.created").map((r) => r.body.data.id);
      assert.deepEqual(sent.sort(), created.map((m) => m.id).sort());

      const page = await client.webhooks.deliveries(hook.id, { limit: 2 });
      assert.equal(page.deliveries.length, 2);
      assert.ok(page.nextCursor);
      // limit 2 over three deliveries: the iterator follows nextCursor once.
      const done = await waitFor(async () => {
        const ds = await collect(client.webhooks.deliveriesAll(hook.id, { limit: 2 }));
        return ds.length === 3 && ds.every((d) => d.status === "succeeded") ? ds : undefined;
      });
      assert.ok(done, "three succeeded deliveries");
      assert.deepEqual(done.map((d) => d.id).sort(), received.map((r) => r.id).sort());
      for (const d of done) {
        assert.deepEqual([d.event, d.attempts, d.responseStatus], ["memory.created", 1, 204]);
        assert.deepEqual(d.attemptLog, [{ attemptedAt: d.lastAttemptAt, responseStatus: 204, error: null }]);
      }

      assert.deepEqual(await client.webhooks.delete(hook.id), { id: hook.id, deleted: true });
      assert.ok(!(await client.webhooks.list()).some((w) => w.id === hook.id));
      await assert.rejects(client.webhooks.deliveries(hook.id), NotFoundError);

      const err = await client.webhooks.create({ url, events: ["memory.exploded"] }).catch((e) => e);
      assert.ok(err instanceof InvalidRequestError);
      assert.equal(err.field, "events[0]");
    } finally {
      receiver.closeAllConnections();
      await new Promise((r) => receiver.close(r));
    }
  });
});

describe("invoices", () => {
  test("a new org has none", async () => {
    assert.deepEqual(await client.billing.invoices.list(), { invoices: [], nextCursor: null });
    assert.deepEqual(await collect(client.billing.invoices.listAll()), []);
    const err = await client.billing.invoices.get("inv_doesnotexist").catch((e) => e);
    assert.ok(err instanceof NotFoundError);
    assert.deepEqual([err.code, err.status], ["NOT_FOUND", 404]);
  });
});

// A real invoice: last month's usage is recorded in a stopped server's data folder, the
// operator closes that month, and the org reads its invoice through the SDK.
describe("last month's invoice", () => {
  test("list and get", { skip: !haveGo() && "recording last month's usage needs the go toolchain" }, async () => {
    const billed = await startServer();
    try {
      const created = await billed.admin("POST", "/v1/admin/orgs", { name: "billed", plan: "starter" });
      await billed.stop();
      const period = recordLastMonth(billed.data, created.org.id);
      await billed.start();
      const closed = await billed.admin("POST", "/v1/admin/billing/close", { period });
      assert.equal(closed.invoices.length, 1); // the other orgs were created this month

      const billedClient = new MemoryClient({ apiKey: created.api_key.key, baseUrl: billed.baseUrl });
      const page = await billedClient.billing.invoices.list();
      assert.equal(page.nextCursor, null);
      assert.equal(page.invoices.length, 1);
      const [invoice] = page.invoices;
      const sent = closed.invoices[0];
      assert.deepEqual(
        [invoice.id, invoice.status, invoice.period.start, invoice.totalUsd, invoice.subtotalUsd, invoice.stripeInvoiceId],
        [sent.id, "open", `${period}-01T00:00:00Z`, sent.total_usd, sent.subtotal_usd, null],
      );
      assert.match(invoice.id, /^inv_/);
      // The plan's base fee; 1,500 calls are within the quota.
      assert.equal(invoice.lines.length, 1);
      const [base] = invoice.lines;
      assert.deepEqual([base.metric, base.quantity, base.amountUsd], [null, 1, invoice.totalUsd]);
      assert.match(base.description, /^Starter plan, /);
      assert.ok(invoice.totalUsd > 0);

      assert.deepEqual(await billedClient.billing.invoices.get(invoice.id), invoice);
      assert.deepEqual((await collect(billedClient.billing.invoices.listAll({ limit: 1 }))).map((i) => i.id), [invoice.id]);

      // A test-mode key sees a sandbox that is never billed.
      const sandboxKey = await billedClient.keys.create({ name: "sandbox", scopes: ["admin"], mode: "test" });
      const sandbox = new MemoryClient({ apiKey: sandboxKey.key, baseUrl: billed.baseUrl });
      assert.deepEqual((await sandbox.billing.invoices.list()).invoices, []);
      await assert.rejects(sandbox.billing.invoices.get(invoice.id), NotFoundError);
    } finally {
      await billed.close();
    }
  });
});

// The server's own limiter: an org allowed 60 requests a minute (a bucket of 60,
// refilled one a second) answers 429 with Retry-After: 1 once the bucket is empty.
describe("rate limit", () => {
  test("a 429 is retried after Retry-After", async () => {
    const created = await server.admin("POST", "/v1/admin/orgs", { name: "sdk-js-limited", plan: "pro" });
    await server.admin("PATCH", `/v1/admin/orgs/${created.org.id}`, { limits: { requests_per_minute: 60 } });
    const apiKey = created.api_key.key;
    const strict = new MemoryClient({ apiKey, baseUrl: server.baseUrl, maxRetries: 0 });
    const exhaust = async () => {
      for (let i = 0; i < 200; i++) {
        const err = await strict.account.get().then(() => undefined, (e) => e);
        if (err) return err;
      }
      assert.fail("no 429 after 200 requests");
    };

    const err = await exhaust();
    assert.ok(err instanceof RateLimitError, String(err));
    assert.deepEqual([err.status, err.code, err.retryAfter], [429, "RATE_LIMIT_EXCEEDED", 1]);
    assert.deepEqual([err.details.window, err.details.limit], ["minute", 60]);
    assert.equal(err.headers["retry-after"], "1");

    // Records what the server answered to each attempt, and when.
    const answers = [];
    const recording = async (url, init) => {
      const res = await fetch(url, init);
      answers.push({ status: res.status, at: performance.now() });
      return res;
    };
    const client = new MemoryClient({ apiKey, baseUrl: server.baseUrl, fetch: recording });
    let memory;
    for (let round = 0; round < 3; round++) {
      answers.length = 0;
      memory = await client.memories.create({ text: "written after the wait", userId: newUser() });
      if (answers.length > 1) break;
      await exhaust(); // the bucket refilled between the two calls (a very slow machine): again
    }
    assert.match(memory.id, /^mem_/);
    // The bucket was empty, so the first try was refused and the client waited the
    // server's Retry-After (1 s) before the try that succeeded.
    assert.deepEqual(answers.map((a) => a.status), [429, 201]);
    assert.ok(answers[1].at - answers[0].at >= 1000, `retried after ${answers[1].at - answers[0].at} ms`);
  });
});
