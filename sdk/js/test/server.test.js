// The SDK against the real memoryd binary: every call the server implements today.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import {
  AuthenticationError,
  ConfirmationRequiredError,
  IdempotencyConflictError,
  InsufficientScopeError,
  InvalidRequestError,
  MemoryAPIError,
  MemoryClient,
  NotFoundError,
} from "../dist/index.js";
import { startServer } from "./support.js";

let server;
let client;
// Each test works on its own user, so tests do not see each other's memories.
const newUser = () => "u_" + randomUUID().slice(0, 12);

before(async () => {
  server = await startServer();
  client = new MemoryClient({ apiKey: server.apiKey, baseUrl: server.baseUrl });
});
after(() => server?.close());

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
