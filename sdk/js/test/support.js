// Test fixtures: the real memoryd binary, and a scripted stub HTTP server.
// The binary comes from $MEMORYD_BIN when set (CI builds it once), else from
// `go build` of the repository this SDK lives in.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const REPO_ROOT = resolve(fileURLToPath(import.meta.url), "../../../..");
export const ADMIN_TOKEN = "sdk-test-admin-token-0123456789";
const START_TIMEOUT_MS = 20_000;

function memorydBinary(dir) {
  if (process.env.MEMORYD_BIN) return process.env.MEMORYD_BIN;
  const out = join(dir, "memoryd");
  execFileSync("go", ["build", "-o", out, "."], { cwd: REPO_ROOT, stdio: "inherit" });
  return out;
}

/**
 * Starts memoryd on a free port with its own data folder, and creates an org. `stop()`
 * and `start()` restart it on the same data folder (at a new `baseUrl`).
 */
export async function startServer({ env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "memoryd-sdk-js-"));
  const server = { data: join(dir, "data") };
  let proc;
  let binary;
  server.start = async () => {
    proc = spawn(binary, ["serve", "--listen", "127.0.0.1:0", "--data", server.data], {
      env: { ...process.env, MEMORYD_ADMIN_TOKEN: ADMIN_TOKEN, ...env },
      stdio: ["ignore", "pipe", "ignore"],
    });
    const { baseUrl, bootstrapKey } = await readBanner(proc);
    server.baseUrl = baseUrl;
    return bootstrapKey;
  };
  server.stop = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
  };
  server.close = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  server.admin = async (method, path, body) => {
    const res = await fetch(server.baseUrl + path, {
      method,
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const envelope = await res.json();
    if (!res.ok) throw new Error(`admin ${method} ${path}: ${JSON.stringify(envelope)}`);
    return envelope.data;
  };
  try {
    binary = memorydBinary(dir);
    server.bootstrapKey = await server.start();
    const created = await server.admin("POST", "/v1/admin/orgs", { name: "sdk-js", plan: "enterprise" });
    Object.assign(server, { orgId: created.org.id, apiKey: created.api_key.key });
    return server;
  } catch (err) {
    await server.close();
    throw err;
  }
}

/** Records 1,500 API calls of the org last month in a stopped server's data folder
 *  (sdk/testdata/pastusage) and returns that month, YYYY-MM. */
export function recordLastMonth(data, orgId) {
  const args = ["run", "./sdk/testdata/pastusage", "-data", data, "-org", orgId, "-calls", "1500"];
  return execFileSync("go", args, { cwd: REPO_ROOT, encoding: "utf8" }).trim();
}

/** Whether the go toolchain is on the PATH. */
export function haveGo() {
  try {
    execFileSync("go", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function readBanner(proc) {
  return new Promise((resolvePromise, reject) => {
    let bootstrapKey;
    const lines = createInterface({ input: proc.stdout });
    const timer = setTimeout(() => reject(new Error("memoryd did not print its address in time")), START_TIMEOUT_MS);
    proc.once("exit", (code) => reject(new Error(`memoryd exited (${code}) before listening`)));
    lines.on("line", (line) => {
      if (line.startsWith("    mem_live_")) bootstrapKey = line.trim();
      const m = line.match(/listening on (http:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ baseUrl: m[1], bootstrapKey });
      }
    });
  });
}

export const ok = (data, status = 200) => ({ status, body: { success: true, data, meta: { request_id: "req_stub" } } });

export const fail = (status, code, details = {}, headers = {}) => ({
  status,
  headers,
  body: { success: false, error: { code, message: code.toLowerCase(), details }, meta: { request_id: "req_stub_err" } },
});

/**
 * Answers requests from a script, in order, and records what it was sent. The last
 * answer repeats once the script runs out, so "always 500" is one entry.
 */
export async function startStub(...answers) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString();
      const url = new URL(req.url, "http://stub");
      const recorded = {
        method: req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: raw ? JSON.parse(raw) : undefined,
      };
      requests.push(recorded);
      let answer = answers[Math.min(requests.length, answers.length) - 1];
      if (typeof answer === "function") answer = answer(recorded);
      const headers = { ...(answer.headers ?? {}) };
      let payload = answer.body;
      if (typeof payload !== "string") {
        payload = JSON.stringify(payload);
        headers["Content-Type"] = "application/json";
      }
      res.writeHead(answer.status, headers);
      res.end(payload);
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}

/**
 * A chat model speaking the OpenAI wire format (POST /v1/chat/completions), for a memoryd
 * started with its `env`. `reply(model, messages)` returns the assistant's content; every
 * request is recorded. While `held` is true the extraction model waits to answer, to
 * catch a job while it runs; `release()` lets it go.
 */
export async function startChatStandIn(reply) {
  const requests = [];
  let waiting = [];
  const standIn = { requests, held: false };
  standIn.release = () => {
    standIn.held = false;
    for (const go of waiting) go();
    waiting = [];
  };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString());
      requests.push(body);
      if (body.model === "stand-in-extraction" && standIn.held) await new Promise((r) => waiting.push(r));
      const content = reply(body.model, body.messages);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({
        id: `chatcmpl-${requests.length}`, object: "chat.completion", created: 0, model: body.model,
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
        usage: { prompt_tokens: 50, completion_tokens: 10, total_tokens: 60 },
      }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  standIn.env = {
    MEMORYD_LLM_BASE_URL: `http://127.0.0.1:${server.address().port}/v1`, MEMORYD_LLM_API_KEY: "sk-stand-in",
    MEMORYD_LLM_ANSWER_MODEL: "stand-in-answer", MEMORYD_LLM_EXTRACTION_MODEL: "stand-in-extraction",
    MEMORYD_LLM_UPDATE_MODEL: "stand-in-update", MEMORYD_LLM_MAX_RETRIES: "0",
  };
  standIn.close = () => new Promise((r) => { standIn.release(); server.closeAllConnections(); server.close(r); });
  return standIn;
}
