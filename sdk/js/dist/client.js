// MemoryClient and its resources.
import { Transport } from "./transport.js";
export const DEFAULT_BASE_URL = "http://127.0.0.1:8080";
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
// Ids are opaque; encode them so a stray "/" or "?" cannot change the route.
const id = (value) => encodeURIComponent(value);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Every item of a cursor-paginated list, fetching pages as the loop needs them. */
async function* paginate(fetchPage, items) {
    let cursor;
    do {
        const page = await fetchPage(cursor);
        yield* items(page);
        cursor = page.nextCursor ?? undefined;
    } while (cursor);
}
function env(name) {
    return globalThis.process?.env?.[name];
}
export class MemoryClient {
    memories;
    batch;
    jobs;
    usage;
    account;
    keys;
    billing;
    alerts;
    webhooks;
    transport;
    constructor(options = {}) {
        const apiKey = options.apiKey ?? env("MEMORYD_API_KEY");
        if (!apiKey)
            throw new TypeError("apiKey is required (or set MEMORYD_API_KEY)");
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
    get baseUrl() {
        return this.transport.baseUrl;
    }
    /** The memories relevant to `context`, most relevant first (may re-rank with a model). */
    async query(params, options = {}) {
        return (await this.transport.request("POST", "/v1/query", { body: params, ...options })).data;
    }
    /** Like query, but never calls a language model. */
    async retrieve(params, options = {}) {
        return (await this.transport.request("POST", "/v1/retrieve", { body: params, ...options })).data;
    }
    /** An answer grounded in the memories (`grounded: false` when none fit). */
    async queryWithAnswer(params, options = {}) {
        return (await this.transport.request("POST", "/v1/query/answer", { body: params, ...options })).data;
    }
}
class Resource {
    t;
    constructor(t) {
        this.t = t;
    }
}
export class Memories extends Resource {
    async create(params, options = {}) {
        return (await this.t.request("POST", "/v1/memories", { body: params, ...options })).data;
    }
    async get(memoryId) {
        return (await this.t.request("GET", `/v1/memories/${id(memoryId)}`)).data;
    }
    async list(params = {}) {
        return (await this.t.request("GET", "/v1/memories", { query: { ...params } })).data;
    }
    /** Every memory, newest first, fetching pages of `limit` (default 100) as the loop needs them. */
    listAll(params = {}) {
        return paginate((cursor) => this.list({ limit: 100, ...params, cursor }), (page) => page.memories);
    }
    /** Replaces the given fields; `version` goes up by one. */
    async update(memoryId, params) {
        return (await this.t.request("PUT", `/v1/memories/${id(memoryId)}`, { body: params })).data;
    }
    async delete(memoryId) {
        return (await this.t.request("DELETE", `/v1/memories/${id(memoryId)}`)).data;
    }
    /** Deletes every memory in scope. The SDK never confirms on the caller's behalf:
     *  without `confirm: true` the server throws ConfirmationRequiredError. */
    async deleteAll(params = {}) {
        const { confirm, ...scope } = params;
        const query = { ...scope, confirm: confirm ? "true" : undefined };
        return (await this.t.request("DELETE", "/v1/memories", { query })).data;
    }
    async history(memoryId) {
        const res = await this.t.request("GET", `/v1/memories/${id(memoryId)}/history`);
        return res.data.events;
    }
    /** Up to 1000 memories in one all-or-nothing call, in request order. */
    async batchCreate(memories, options = {}) {
        const res = await this.t.request("POST", "/v1/batch/memories", { body: { memories }, ...options });
        return res.data.memories;
    }
}
export class Batch extends Resource {
    /** Starts a job extracting memories from a dialogue. */
    async extract(params, options = {}) {
        return (await this.t.request("POST", "/v1/batch/extract", { body: params, ...options })).data.job;
    }
    /** Starts a job re-embedding the given memories, or all of them. */
    async embeddings(params = {}, options = {}) {
        return (await this.t.request("POST", "/v1/batch/embeddings", { body: params, ...options })).data.job;
    }
}
export class Jobs extends Resource {
    async get(jobId) {
        return (await this.t.request("GET", `/v1/batch/${id(jobId)}`)).data;
    }
    /** Cancels a queued or running job; what it already committed stays. A job that has
     *  succeeded or failed cannot be canceled (InvalidRequestError). */
    async cancel(job) {
        const jobId = typeof job === "string" ? job : job.id;
        return (await this.t.request("DELETE", `/v1/batch/${id(jobId)}`)).data;
    }
    /** Polls until the job is succeeded, failed or canceled, and returns it. */
    async wait(job, options = {}) {
        const jobId = typeof job === "string" ? job : job.id;
        const interval = options.pollIntervalMs ?? 1000;
        const deadline = Date.now() + (options.timeoutMs ?? 300_000);
        for (;;) {
            const current = await this.get(jobId);
            if (TERMINAL.has(current.status))
                return current;
            if (Date.now() + interval > deadline) {
                throw new Error(`job ${jobId} still ${current.status} after ${options.timeoutMs ?? 300_000} ms`);
            }
            await sleep(interval);
        }
    }
}
export class UsageResource extends Resource {
    async get() {
        return (await this.t.request("GET", "/v1/usage")).data;
    }
    async history(params = {}) {
        const query = {
            ...params,
            from: params.from instanceof Date ? params.from.toISOString() : params.from,
            to: params.to instanceof Date ? params.to.toISOString() : params.to,
        };
        return (await this.t.request("GET", "/v1/usage/history", { query })).data;
    }
}
export class AccountResource extends Resource {
    async get() {
        return (await this.t.request("GET", "/v1/account")).data;
    }
    async audit(params = {}) {
        return (await this.t.request("GET", "/v1/account/audit", { query: { ...params } })).data;
    }
    /** Every audit event kept, newest first, page by page. */
    auditAll(params = {}) {
        return paginate((cursor) => this.audit({ limit: 100, ...params, cursor }), (page) => page.events);
    }
}
export class Keys extends Resource {
    async list() {
        return (await this.t.request("GET", "/v1/account/api-keys")).data.apiKeys;
    }
    /** A new key; its whole secret is in `.key`, and only in this answer. */
    async create(params, options = {}) {
        const res = await this.t.request("POST", "/v1/account/api-keys", { body: params, ...options });
        return res.data.apiKey;
    }
    async revoke(keyId) {
        return (await this.t.request("DELETE", `/v1/account/api-keys/${id(keyId)}`)).data;
    }
    /** A new key like the old one; the old one keeps working for the grace period. */
    async rotate(keyId, params = {}, options = {}) {
        const path = `/v1/account/api-keys/${id(keyId)}/rotate`;
        return (await this.t.request("POST", path, { body: params, ...options })).data.apiKey;
    }
}
export class Invoices extends Resource {
    /** A page of the org's invoices, newest period first (none for a test-mode key). */
    async list(params = {}) {
        return (await this.t.request("GET", "/v1/billing/invoices", { query: { ...params } })).data;
    }
    listAll(params = {}) {
        return paginate((cursor) => this.list({ limit: 100, ...params, cursor }), (page) => page.invoices);
    }
    async get(invoiceId) {
        return (await this.t.request("GET", `/v1/billing/invoices/${id(invoiceId)}`)).data;
    }
}
export class Billing extends Resource {
    invoices = new Invoices(this.t);
}
export class Alerts extends Resource {
    async list() {
        return (await this.t.request("GET", "/v1/alerts")).data.alerts;
    }
    async create(params, options = {}) {
        return (await this.t.request("POST", "/v1/alerts", { body: params, ...options })).data;
    }
    async delete(alertId) {
        return (await this.t.request("DELETE", `/v1/alerts/${id(alertId)}`)).data;
    }
}
export class Webhooks extends Resource {
    async list() {
        return (await this.t.request("GET", "/v1/webhooks")).data.webhooks;
    }
    /** A new endpoint; its signing secret is in `.secret`, and only in this answer. */
    async create(params, options = {}) {
        return (await this.t.request("POST", "/v1/webhooks", { body: params, ...options })).data;
    }
    async delete(webhookId) {
        return (await this.t.request("DELETE", `/v1/webhooks/${id(webhookId)}`)).data;
    }
    /** A page of the events sent (or being sent) to the endpoint, newest first. */
    async deliveries(webhookId, params = {}) {
        const path = `/v1/webhooks/${id(webhookId)}/deliveries`;
        return (await this.t.request("GET", path, { query: { ...params } })).data;
    }
    deliveriesAll(webhookId, params = {}) {
        return paginate((cursor) => this.deliveries(webhookId, { limit: 100, ...params, cursor }), (page) => page.deliveries);
    }
}
