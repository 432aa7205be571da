// MemoryClient and its resources.

import { Transport } from "./transport.js";
import type {
  Account,
  ApiKey,
  ApiKeyCreateParams,
  ApiKeyRevoked,
  DeleteAllParams,
  ExtractParams,
  Job,
  Memory,
  MemoryCreateParams,
  MemoryDeleted,
  MemoryEvent,
  MemoryList,
  MemoryListParams,
  MemoryUpdateParams,
  PostOptions,
  QueryAnswer,
  QueryAnswerParams,
  QueryResult,
  RetrievalParams,
  Usage,
  UsageHistory,
  UsageHistoryParams,
  WaitOptions,
} from "./types.js";

export const DEFAULT_BASE_URL = "http://127.0.0.1:8080";
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);

export interface ClientOptions {
  apiKey?: string;
  /** Default http://127.0.0.1:8080, or $MEMORYD_BASE_URL. */
  baseUrl?: string;
  /** Per attempt; default 30000. */
  timeoutMs?: number;
  /** Retries of 408, 429, 500, 502, 503, 504 and connection errors; default 3. */
  maxRetries?: number;
  /** A Retry-After longer than this throws at once instead of waiting; default 60000. */
  maxRetryAfterMs?: number;
  /** For tests and other runtimes; default global fetch. */
  fetch?: typeof fetch;
}

// Ids are opaque; encode them so a stray "/" or "?" cannot change the route.
const id = (value: string): string => encodeURIComponent(value);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function env(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

export class MemoryClient {
  readonly memories: Memories;
  readonly batch: Batch;
  readonly jobs: Jobs;
  readonly usage: UsageResource;
  readonly account: AccountResource;
  readonly keys: Keys;
  private readonly transport: Transport;

  constructor(options: ClientOptions = {}) {
    const apiKey = options.apiKey ?? env("MEMORYD_API_KEY");
    if (!apiKey) throw new TypeError("apiKey is required (or set MEMORYD_API_KEY)");
    this.transport = new Transport({
      apiKey,
      baseUrl: (options.baseUrl ?? env("MEMORYD_BASE_URL") ?? DEFAULT_BASE_URL).replace(/\/+$/, ""),
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 3,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      sleep,
    });
    this.memories = new Memories(this.transport);
    this.batch = new Batch(this.transport);
    this.jobs = new Jobs(this.transport);
    this.usage = new UsageResource(this.transport);
    this.account = new AccountResource(this.transport);
    this.keys = new Keys(this.transport);
  }

  get baseUrl(): string {
    return this.transport.baseUrl;
  }

  /** The memories relevant to `context`, most relevant first (may re-rank with a model). */
  async query(params: RetrievalParams, options: PostOptions = {}): Promise<QueryResult> {
    return (await this.transport.request<QueryResult>("POST", "/v1/query", { body: params, ...options })).data;
  }

  /** Like query, but never calls a language model. */
  async retrieve(params: RetrievalParams, options: PostOptions = {}): Promise<QueryResult> {
    return (await this.transport.request<QueryResult>("POST", "/v1/retrieve", { body: params, ...options })).data;
  }

  /** An answer grounded in the memories (`grounded: false` when none fit). */
  async queryWithAnswer(params: QueryAnswerParams, options: PostOptions = {}): Promise<QueryAnswer> {
    return (await this.transport.request<QueryAnswer>("POST", "/v1/query/answer", { body: params, ...options })).data;
  }
}

class Resource {
  constructor(protected readonly t: Transport) {}
}

export class Memories extends Resource {
  async create(params: MemoryCreateParams, options: PostOptions = {}): Promise<Memory> {
    return (await this.t.request<Memory>("POST", "/v1/memories", { body: params, ...options })).data;
  }

  async get(memoryId: string): Promise<Memory> {
    return (await this.t.request<Memory>("GET", `/v1/memories/${id(memoryId)}`)).data;
  }

  async list(params: MemoryListParams = {}): Promise<MemoryList> {
    return (await this.t.request<MemoryList>("GET", "/v1/memories", { query: { ...params } })).data;
  }

  /** Every memory, newest first, fetching pages of `limit` (default 100) as the loop needs them. */
  async *listAll(params: Omit<MemoryListParams, "cursor"> = {}): AsyncGenerator<Memory, void, undefined> {
    let cursor: string | undefined;
    do {
      const page = await this.list({ limit: 100, ...params, cursor });
      yield* page.memories;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  /** Replaces the given fields; `version` goes up by one. */
  async update(memoryId: string, params: MemoryUpdateParams): Promise<Memory> {
    return (await this.t.request<Memory>("PUT", `/v1/memories/${id(memoryId)}`, { body: params })).data;
  }

  async delete(memoryId: string): Promise<MemoryDeleted> {
    return (await this.t.request<MemoryDeleted>("DELETE", `/v1/memories/${id(memoryId)}`)).data;
  }

  /** Deletes every memory in scope. The SDK never confirms on the caller's behalf:
   *  without `confirm: true` the server throws ConfirmationRequiredError. */
  async deleteAll(params: DeleteAllParams = {}): Promise<{ deleted: number }> {
    const { confirm, ...scope } = params;
    const query = { ...scope, confirm: confirm ? "true" : undefined };
    return (await this.t.request<{ deleted: number }>("DELETE", "/v1/memories", { query })).data;
  }

  async history(memoryId: string): Promise<MemoryEvent[]> {
    const res = await this.t.request<{ events: MemoryEvent[] }>("GET", `/v1/memories/${id(memoryId)}/history`);
    return res.data.events;
  }

  /** Up to 1000 memories in one all-or-nothing call, in request order. */
  async batchCreate(memories: MemoryCreateParams[], options: PostOptions = {}): Promise<Memory[]> {
    const res = await this.t.request<{ memories: Memory[] }>("POST", "/v1/batch/memories", { body: { memories }, ...options });
    return res.data.memories;
  }
}

export class Batch extends Resource {
  /** Starts a job extracting memories from a dialogue. */
  async extract(params: ExtractParams, options: PostOptions = {}): Promise<Job> {
    return (await this.t.request<{ job: Job }>("POST", "/v1/batch/extract", { body: params, ...options })).data.job;
  }

  /** Starts a job re-embedding the given memories, or all of them. */
  async embeddings(params: { memoryIds?: string[] } = {}, options: PostOptions = {}): Promise<Job> {
    return (await this.t.request<{ job: Job }>("POST", "/v1/batch/embeddings", { body: params, ...options })).data.job;
  }
}

export class Jobs extends Resource {
  async get(jobId: string): Promise<Job> {
    return (await this.t.request<Job>("GET", `/v1/batch/${id(jobId)}`)).data;
  }

  /** Polls until the job is succeeded, failed or canceled, and returns it. */
  async wait(job: string | Job, options: WaitOptions = {}): Promise<Job> {
    const jobId = typeof job === "string" ? job : job.id;
    const interval = options.pollIntervalMs ?? 1000;
    const deadline = Date.now() + (options.timeoutMs ?? 300_000);
    for (;;) {
      const current = await this.get(jobId);
      if (TERMINAL.has(current.status)) return current;
      if (Date.now() + interval > deadline) {
        throw new Error(`job ${jobId} still ${current.status} after ${options.timeoutMs ?? 300_000} ms`);
      }
      await sleep(interval);
    }
  }
}

export class UsageResource extends Resource {
  async get(): Promise<Usage> {
    return (await this.t.request<Usage>("GET", "/v1/usage")).data;
  }

  /** Usage buckets; with `format: "csv"` the CSV text as the server sent it. */
  async history(params: UsageHistoryParams & { format: "csv" }): Promise<string>;
  async history(params?: UsageHistoryParams): Promise<UsageHistory>;
  async history(params: UsageHistoryParams = {}): Promise<UsageHistory | string> {
    const query = {
      ...params,
      from: params.from instanceof Date ? params.from.toISOString() : params.from,
      to: params.to instanceof Date ? params.to.toISOString() : params.to,
    };
    return (await this.t.request<UsageHistory | string>("GET", "/v1/usage/history", { query })).data;
  }
}

export class AccountResource extends Resource {
  async get(): Promise<Account> {
    return (await this.t.request<Account>("GET", "/v1/account")).data;
  }
}

export class Keys extends Resource {
  async list(): Promise<ApiKey[]> {
    return (await this.t.request<{ apiKeys: ApiKey[] }>("GET", "/v1/account/api-keys")).data.apiKeys;
  }

  /** A new key; its whole secret is in `.key`, and only in this answer. */
  async create(params: ApiKeyCreateParams, options: PostOptions = {}): Promise<ApiKey> {
    const res = await this.t.request<{ apiKey: ApiKey }>("POST", "/v1/account/api-keys", { body: params, ...options });
    return res.data.apiKey;
  }

  async revoke(keyId: string): Promise<ApiKeyRevoked> {
    return (await this.t.request<ApiKeyRevoked>("DELETE", `/v1/account/api-keys/${id(keyId)}`)).data;
  }

  /** A new key like the old one; the old one keeps working for the grace period. */
  async rotate(keyId: string, params: { gracePeriodSeconds?: number } = {}, options: PostOptions = {}): Promise<ApiKey> {
    const path = `/v1/account/api-keys/${id(keyId)}/rotate`;
    return (await this.t.request<{ apiKey: ApiKey }>("POST", path, { body: params, ...options })).data.apiKey;
  }
}
