// The SDK against a scripted stub server: backoff and retries of failures a real server
// cannot be made to produce on demand (5xx, dropped connections, a proxy's HTML page),
// casing, and the exact wire format of calls (method, path, body, query string) that a
// real server would accept in more than one form. server.test.js runs every call against
// the real binary.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  APIConnectionError,
  InternalServerError,
  InvalidRequestError,
  LLMNotConfiguredError,
  MemoryClient,
  QuotaExceededError,
  RateLimitError,
  UpstreamError,
} from "../dist/index.js";
import { fail, ok, startStub } from "./support.js";

const API_KEY = "mem_live_" + "a".repeat(32);
const MEMORY = {
  id: "mem_1", text: "User prefers dark mode", metadata: { ui_theme: "dark" }, user_id: "u_42",
  agent_id: null, session_id: null, created_at: "2026-11-02T09:15:27Z",
  updated_at: "2026-11-02T09:15:27Z", version: 1, expires_at: null,
};
const JOB = {
  id: "job_1", type: "extract", status: "queued", progress: { total: 3, done: 0, failed: 0 },
  result: null, error: null, created_at: "2026-11-05T17:40:03Z", started_at: null, finished_at: null,
};

/** Runs fn against a stub that answers with `answers`; returns [requests, result]. */
async function withStub(answers, fn, options = {}) {
  const stub = await startStub(...answers);
  try {
    const client = new MemoryClient({ apiKey: API_KEY, baseUrl: stub.baseUrl, ...options });
    const result = await fn(client).catch((e) => e);
    return [stub.requests, result];
  } finally {
    await stub.close();
  }
}

describe("retries", () => {
  test("429 honours Retry-After and reuses the Idempotency-Key", async () => {
    const limited = fail(429, "RATE_LIMIT_EXCEEDED", { retry_after: 1, limit: 10, window: "minute" }, { "Retry-After": "1" });
    const start = performance.now();
    const [reqs, memory] = await withStub([limited, ok(MEMORY, 201)], (c) =>
      c.memories.create({ text: "User prefers dark mode", userId: "u_42" }));
    const elapsed = performance.now() - start;
    assert.equal(memory.id, "mem_1");
    assert.equal(reqs.length, 2);
    assert.ok(elapsed >= 950, `retried after ${elapsed} ms`);
    assert.match(reqs[0].headers["idempotency-key"], /^[0-9a-f-]{36}$/);
    assert.equal(reqs[1].headers["idempotency-key"], reqs[0].headers["idempotency-key"]);
    assert.deepEqual(reqs[1].body, reqs[0].body);
  });

  test("5xx backs off exponentially with jitter, then throws", async () => {
    const start = performance.now();
    const [reqs, err] = await withStub([fail(503, "INTERNAL_ERROR")], (c) => c.memories.get("mem_1"), { maxRetries: 2 });
    const elapsed = performance.now() - start;
    assert.ok(err instanceof InternalServerError);
    assert.equal(err.requestId, "req_stub_err");
    assert.equal(reqs.length, 3);
    // 0.5 s then 1 s, each scaled by jitter in [0.5, 1].
    assert.ok(elapsed >= 700 && elapsed < 3000, `gave up after ${elapsed} ms`);
  });

  test("connection errors are retried", async () => {
    const stub = await startStub(ok({}));
    await stub.close(); // nothing listens on that port now
    const client = new MemoryClient({ apiKey: API_KEY, baseUrl: stub.baseUrl, maxRetries: 1 });
    await assert.rejects(client.account.get(), APIConnectionError);
  });

  test("a new key per call, and only on POST", async () => {
    const [reqs] = await withStub([ok(MEMORY, 201)], async (c) => {
      await c.memories.create({ text: "a" });
      await c.memories.create({ text: "a" });
      await c.memories.list();
    });
    assert.notEqual(reqs[0].headers["idempotency-key"], reqs[1].headers["idempotency-key"]);
    assert.equal(reqs[2].headers["idempotency-key"], undefined);
  });

  test("permanent errors are not retried", async () => {
    const cases = [
      [fail(400, "INVALID_REQUEST", { field: "text" }), InvalidRequestError],
      [fail(402, "QUOTA_EXCEEDED", { metric: "api_calls" }), QuotaExceededError],
      [fail(501, "LLM_NOT_CONFIGURED"), LLMNotConfiguredError],
      // Retry-After beyond maxRetryAfterMs: fail now rather than hang for an hour.
      [fail(429, "RATE_LIMIT_EXCEEDED", { retry_after: 3600 }, { "Retry-After": "3600" }), RateLimitError],
    ];
    for (const [answer, cls] of cases) {
      const [reqs, err] = await withStub([answer], (c) => c.memories.list());
      assert.ok(err instanceof cls, `${cls.name}: got ${err}`);
      assert.equal(reqs.length, 1);
      if (err instanceof RateLimitError) assert.equal(err.retryAfter, 3600);
    }
  });

  test("an error without the envelope maps by status", async () => {
    const html = { status: 502, headers: { "Content-Type": "text/html" }, body: "<h1>Bad gateway</h1>" };
    const [, err] = await withStub([html], (c) => c.account.get(), { maxRetries: 0 });
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.status, 502);
    assert.equal(err.code, "");
  });
});

describe("wire format", () => {
  test("query converts camelCase to snake_case, but not metadata keys", async () => {
    const [reqs, result] = await withStub([ok({ memories: [{ ...MEMORY, relevance: 0.87 }] })], (c) =>
      c.query({
        context: "What UI does the user like?", userId: "u_42", maxMemories: 5,
        filters: { metadata: { ui_theme: "dark", nestedKey: 1 }, createdAfter: new Date("2026-11-01T00:00:00Z") },
      }));
    const [req] = reqs;
    assert.equal(req.method, "POST");
    assert.equal(req.path, "/v1/query");
    assert.equal(req.headers.authorization, `Bearer ${API_KEY}`);
    assert.equal(req.headers["content-type"], "application/json");
    assert.deepEqual(req.body, {
      context: "What UI does the user like?", user_id: "u_42", max_memories: 5,
      filters: { metadata: { ui_theme: "dark", nestedKey: 1 }, created_after: "2026-11-01T00:00:00.000Z" },
    });
    assert.equal(result.memories[0].relevance, 0.87);
    assert.equal(result.memories[0].userId, "u_42");
    assert.deepEqual(result.memories[0].metadata, { ui_theme: "dark" });
  });

  test("retrieve", async () => {
    const [[req], result] = await withStub([ok({ memories: [] })], (c) =>
      c.retrieve({ context: "work", relevanceThreshold: 0.5 }));
    assert.deepEqual([req.method, req.path], ["POST", "/v1/retrieve"]);
    assert.deepEqual(req.body, { context: "work", relevance_threshold: 0.5 });
    assert.deepEqual(result, { memories: [] });
  });

  test("queryWithAnswer keeps unknown fields", async () => {
    const answer = { response: "Dark mode.", memories: [], model: "gpt-4o-mini", grounded: true, new_field: 1 };
    const [[req], result] = await withStub([ok(answer)], (c) =>
      c.queryWithAnswer({ context: "What UI?", promptTemplate: "Answer: {question}" }));
    assert.deepEqual([req.method, req.path], ["POST", "/v1/query/answer"]);
    assert.deepEqual(req.body, { context: "What UI?", prompt_template: "Answer: {question}" });
    assert.equal(result.grounded, true);
    assert.equal(result.newField, 1);
  });

  test("batch extract and embeddings", async () => {
    const messages = [{ role: "user", content: "I am a nurse.", createdAt: "2026-11-05T17:40:03Z" }];
    let [[req], job] = await withStub([ok({ job: JOB }, 202)], (c) => c.batch.extract({ messages, userId: "u_42" }));
    assert.deepEqual([req.method, req.path], ["POST", "/v1/batch/extract"]);
    assert.deepEqual(req.body, {
      messages: [{ role: "user", content: "I am a nurse.", created_at: "2026-11-05T17:40:03Z" }], user_id: "u_42",
    });
    assert.deepEqual([job.id, job.status, job.progress.total, job.createdAt], ["job_1", "queued", 3, JOB.created_at]);

    [[req]] = await withStub([ok({ job: { ...JOB, type: "embeddings" } }, 202)], (c) =>
      c.batch.embeddings({ memoryIds: ["mem_1", "mem_2"] }));
    assert.deepEqual([req.method, req.path], ["POST", "/v1/batch/embeddings"]);
    assert.deepEqual(req.body, { memory_ids: ["mem_1", "mem_2"] });

    [[req]] = await withStub([ok({ job: JOB }, 202)], (c) => c.batch.embeddings());
    assert.deepEqual(req.body, {});
  });

  test("jobs get and wait", async () => {
    let [[req], job] = await withStub([ok(JOB)], (c) => c.jobs.get("job_1"));
    assert.deepEqual([req.method, req.path, job.id], ["GET", "/v1/batch/job_1", "job_1"]);

    const done = { ...JOB, status: "succeeded", result: { memories_created: 2 } };
    const [reqs, finished] = await withStub([ok(JOB), ok({ ...JOB, status: "running" }), ok(done)], (c) =>
      c.jobs.wait(job, { pollIntervalMs: 10 }));
    assert.equal(reqs.length, 3);
    assert.equal(finished.status, "succeeded");
    assert.deepEqual(finished.result, { memoriesCreated: 2 });

    const [, err] = await withStub([ok({ ...JOB, status: "running" })], (c) =>
      c.jobs.wait("job_1", { pollIntervalMs: 10, timeoutMs: 50 }));
    assert.match(String(err), /still running/);
  });

  test("usage and its history", async () => {
    const usage = {
      period: { start: "2026-11-01T00:00:00Z", end: "2026-12-01T00:00:00Z" }, plan: "pro",
      usage: { api_calls: 12 }, limits: {}, cost: { total_usd: 49 },
    };
    let [[req], result] = await withStub([ok(usage)], (c) => c.usage.get());
    assert.deepEqual([req.method, req.path], ["GET", "/v1/usage"]);
    assert.equal(result.usage.apiCalls, 12);
    assert.equal(result.cost.totalUsd, 49);

    const bucket = { start: "2026-11-01T00:00:00Z", api_calls: 3 };
    [[req], result] = await withStub([ok({ buckets: [bucket] })], (c) =>
      c.usage.history({ from: new Date("2026-11-01T00:00:00Z"), granularity: "hour", groupBy: "endpoint" }));
    assert.deepEqual([req.method, req.path], ["GET", "/v1/usage/history"]);
    assert.deepEqual(req.query, { from: "2026-11-01T00:00:00.000Z", granularity: "hour", group_by: "endpoint" });
    assert.deepEqual(result.buckets, [{ start: bucket.start, apiCalls: 3 }]);

    const csv = "start,api_calls\n2026-11-01T00:00:00Z,3\n";
    [[req], result] = await withStub([{ status: 200, headers: { "Content-Type": "text/csv" }, body: csv }], (c) =>
      c.usage.history({ format: "csv" }));
    assert.deepEqual(req.query, { format: "csv" });
    assert.equal(result, csv);
  });

  test("ids are encoded into the path", async () => {
    const [[req]] = await withStub([ok(MEMORY)], (c) => c.memories.get("mem_1/../x"));
    assert.equal(req.path, "/v1/memories/mem_1%2F..%2Fx");
  });

  test("deleteAll sends confirm only when asked", async () => {
    const [reqs] = await withStub([ok({ deleted: 0 })], async (c) => {
      await c.memories.deleteAll({ userId: "u_1", confirm: true });
      await c.memories.deleteAll({ sessionId: "s_1" });
    });
    assert.deepEqual(reqs.map((r) => [r.method, r.path, r.query]), [
      ["DELETE", "/v1/memories", { user_id: "u_1", confirm: "true" }],
      ["DELETE", "/v1/memories", { session_id: "s_1" }],
    ]);
  });
});
