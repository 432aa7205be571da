// MemoryClient and its resources.

import { Transport } from "./transport.js";
import type {
  Account,
  Alert,
  AlertCreateParams,
  ApiKey,
  ApiKeyCreateParams,
  ApiKeyRevoked,
  AuditEvent,
  AuditList,
  AuditParams,
  DeleteAllParams,
  Deleted,
  Invoice,
  InvoiceList,
  ExtractParams,
  Job,
  Memory,
  MemoryCreateParams,
  MemoryEvent,
  MemoryList,
  MemoryListParams,
  MemoryUpdateParams,
  PageParams,
  PostOptions,
  QueryAnswer,
  QueryAnswerParams,
  QueryResult,
  RetrievalParams,
  Usage,
  UsageHistory,
  UsageHistoryParams,
  WaitOptions,
  Webhook,
  WebhookCreateParams,
  WebhookDelivery,
  WebhookDeliveryList,
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

/** Every item of a cursor-paginated list, fetching pages as the loop needs them. */
async function* paginate<Page extends { nextCursor: string | null }, Item>(
  fetchPage: (cursor: string | undefined) => Promise<Page>,
  items: (page: Page) => Item[],
): AsyncGenerator<Item, void, undefined> {
  let cursor: string | undefined;
  do {
    const page = await fetchPage(cursor);
    yield* items(page);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
}

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
  readonly billing: Billing;
  readonly alerts: Alerts;
  readonly webhooks: Webhooks;
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
    this.billing = new Billing(this.transport);
    this.alerts = new Alerts(this.transport);
    this.webhooks = new Webhooks(this.transport);
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
  listAll(params: Omit<MemoryListParams, "cursor"> = {}): AsyncGenerator<Memory, void, undefined> {
    return paginate((cursor) => this.list({ limit: 100, ...params, cursor }), (page) => page.memories);
  }

  /** Replaces the given fields; `version` goes up by one. */
  async update(memoryId: string, params: MemoryUpdateParams): Promise<Memory> {
    return (await this.t.request<Memory>("PUT", `/v1/memories/${id(memoryId)}`, { body: params })).data;
  }

  async delete(memoryId: string): Promise<Deleted> {
    return (await this.t.request<Deleted>("DELETE", `/v1/memories/${id(memoryId)}`)).data;
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

  /** Cancels a queued or running job; what it already committed stays. A job that has
   *  succeeded or failed cannot be canceled (InvalidRequestError). */
  async cancel(job: string | Job): Promise<Job> {
    const jobId = typeof job === "string" ? job : job.id;
    return (await this.t.request<Job>("DELETE", `/v1/batch/${id(jobId)}`)).data;
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

  /** A page of the org's audit log, newest first; with `format: "jsonl"` every kept
   *  event (after `cursor`), oldest first, as the JSON-lines text the server sent. */
  async audit(params: AuditParams & { format: "jsonl" }): Promise<string>;
  async audit(params?: AuditParams): Promise<AuditList>;
  async audit(params: AuditParams = {}): Promise<AuditList | string> {
    return (await this.t.request<AuditList | string>("GET", "/v1/account/audit", { query: { ...params } })).data;
  }

  /** Every audit event kept, newest first, page by page. */
  auditAll(params: { limit?: number } = {}): AsyncGenerator<AuditEvent, void, undefined> {
    return paginate((cursor) => this.audit({ limit: 100, ...params, cursor }), (page) => page.events);
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

export class Invoices extends Resource {
  /** A page of the org's invoices, newest period first (none for a test-mode key). */
  async list(params: PageParams = {}): Promise<InvoiceList> {
    return (await this.t.request<InvoiceList>("GET", "/v1/billing/invoices", { query: { ...params } })).data;
  }

  listAll(params: { limit?: number } = {}): AsyncGenerator<Invoice, void, undefined> {
    return paginate((cursor) => this.list({ limit: 100, ...params, cursor }), (page) => page.invoices);
  }

  async get(invoiceId: string): Promise<Invoice> {
    return (await this.t.request<Invoice>("GET", `/v1/billing/invoices/${id(invoiceId)}`)).data;
  }
}

export class Billing extends Resource {
  readonly invoices = new Invoices(this.t);
}

export class Alerts extends Resource {
  async list(): Promise<Alert[]> {
    return (await this.t.request<{ alerts: Alert[] }>("GET", "/v1/alerts")).data.alerts;
  }

  async create(params: AlertCreateParams, options: PostOptions = {}): Promise<Alert> {
    return (await this.t.request<Alert>("POST", "/v1/alerts", { body: params, ...options })).data;
  }

  async delete(alertId: string): Promise<Deleted> {
    return (await this.t.request<Deleted>("DELETE", `/v1/alerts/${id(alertId)}`)).data;
  }
}

export class Webhooks extends Resource {
  async list(): Promise<Webhook[]> {
    return (await this.t.request<{ webhooks: Webhook[] }>("GET", "/v1/webhooks")).data.webhooks;
  }

  /** A new endpoint; its signing secret is in `.secret`, and only in this answer. */
  async create(params: WebhookCreateParams, options: PostOptions = {}): Promise<Webhook> {
    return (await this.t.request<Webhook>("POST", "/v1/webhooks", { body: params, ...options })).data;
  }

  async delete(webhookId: string): Promise<Deleted> {
    return (await this.t.request<Deleted>("DELETE", `/v1/webhooks/${id(webhookId)}`)).data;
  }

  /** A page of the events sent (or being sent) to the endpoint, newest first. */
  async deliveries(webhookId: string, params: PageParams = {}): Promise<WebhookDeliveryList> {
    const path = `/v1/webhooks/${id(webhookId)}/deliveries`;
    return (await this.t.request<WebhookDeliveryList>("GET", path, { query: { ...params } })).data;
  }

  deliveriesAll(webhookId: string, params: { limit?: number } = {}): AsyncGenerator<WebhookDelivery, void, undefined> {
    return paginate((cursor) => this.deliveries(webhookId, { limit: 100, ...params, cursor }), (page) => page.deliveries);
  }
}
