import { Transport } from "./transport.js";
import type { Account, Alert, AlertCreateParams, ApiKey, ApiKeyCreateParams, ApiKeyRevoked, AuditEvent, AuditList, AuditParams, DeleteAllParams, Deleted, Invoice, InvoiceList, ExtractParams, Job, Memory, MemoryCreateParams, MemoryEvent, MemoryList, MemoryListParams, MemoryUpdateParams, PageParams, PostOptions, QueryAnswer, QueryAnswerParams, QueryResult, RetrievalParams, Usage, UsageHistory, UsageHistoryParams, WaitOptions, Webhook, WebhookCreateParams, WebhookDelivery, WebhookDeliveryList } from "./types.js";
export declare const DEFAULT_BASE_URL = "http://127.0.0.1:8080";
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
export declare class MemoryClient {
    readonly memories: Memories;
    readonly batch: Batch;
    readonly jobs: Jobs;
    readonly usage: UsageResource;
    readonly account: AccountResource;
    readonly keys: Keys;
    readonly billing: Billing;
    readonly alerts: Alerts;
    readonly webhooks: Webhooks;
    private readonly transport;
    constructor(options?: ClientOptions);
    get baseUrl(): string;
    /** The memories relevant to `context`, most relevant first (may re-rank with a model). */
    query(params: RetrievalParams, options?: PostOptions): Promise<QueryResult>;
    /** Like query, but never calls a language model. */
    retrieve(params: RetrievalParams, options?: PostOptions): Promise<QueryResult>;
    /** An answer grounded in the memories (`grounded: false` when none fit). */
    queryWithAnswer(params: QueryAnswerParams, options?: PostOptions): Promise<QueryAnswer>;
}
declare class Resource {
    protected readonly t: Transport;
    constructor(t: Transport);
}
export declare class Memories extends Resource {
    create(params: MemoryCreateParams, options?: PostOptions): Promise<Memory>;
    get(memoryId: string): Promise<Memory>;
    list(params?: MemoryListParams): Promise<MemoryList>;
    /** Every memory, newest first, fetching pages of `limit` (default 100) as the loop needs them. */
    listAll(params?: Omit<MemoryListParams, "cursor">): AsyncGenerator<Memory, void, undefined>;
    /** Replaces the given fields; `version` goes up by one. */
    update(memoryId: string, params: MemoryUpdateParams): Promise<Memory>;
    delete(memoryId: string): Promise<Deleted>;
    /** Deletes every memory in scope. The SDK never confirms on the caller's behalf:
     *  without `confirm: true` the server throws ConfirmationRequiredError. */
    deleteAll(params?: DeleteAllParams): Promise<{
        deleted: number;
    }>;
    history(memoryId: string): Promise<MemoryEvent[]>;
    /** Up to 1000 memories in one all-or-nothing call, in request order. */
    batchCreate(memories: MemoryCreateParams[], options?: PostOptions): Promise<Memory[]>;
}
export declare class Batch extends Resource {
    /** Starts a job extracting memories from a dialogue. */
    extract(params: ExtractParams, options?: PostOptions): Promise<Job>;
    /** Starts a job re-embedding the given memories, or all of them. */
    embeddings(params?: {
        memoryIds?: string[];
    }, options?: PostOptions): Promise<Job>;
}
export declare class Jobs extends Resource {
    get(jobId: string): Promise<Job>;
    /** Cancels a queued or running job; what it already committed stays. A job that has
     *  succeeded or failed cannot be canceled (InvalidRequestError). */
    cancel(job: string | Job): Promise<Job>;
    /** Polls until the job is succeeded, failed or canceled, and returns it. */
    wait(job: string | Job, options?: WaitOptions): Promise<Job>;
}
export declare class UsageResource extends Resource {
    get(): Promise<Usage>;
    /** Usage buckets; with `format: "csv"` the CSV text as the server sent it. */
    history(params: UsageHistoryParams & {
        format: "csv";
    }): Promise<string>;
    history(params?: UsageHistoryParams): Promise<UsageHistory>;
}
export declare class AccountResource extends Resource {
    get(): Promise<Account>;
    /** A page of the org's audit log, newest first; with `format: "jsonl"` every kept
     *  event (after `cursor`), oldest first, as the JSON-lines text the server sent. */
    audit(params: AuditParams & {
        format: "jsonl";
    }): Promise<string>;
    audit(params?: AuditParams): Promise<AuditList>;
    /** Every audit event kept, newest first, page by page. */
    auditAll(params?: {
        limit?: number;
    }): AsyncGenerator<AuditEvent, void, undefined>;
}
export declare class Keys extends Resource {
    list(): Promise<ApiKey[]>;
    /** A new key; its whole secret is in `.key`, and only in this answer. */
    create(params: ApiKeyCreateParams, options?: PostOptions): Promise<ApiKey>;
    revoke(keyId: string): Promise<ApiKeyRevoked>;
    /** A new key like the old one; the old one keeps working for the grace period. */
    rotate(keyId: string, params?: {
        gracePeriodSeconds?: number;
    }, options?: PostOptions): Promise<ApiKey>;
}
export declare class Invoices extends Resource {
    /** A page of the org's invoices, newest period first (none for a test-mode key). */
    list(params?: PageParams): Promise<InvoiceList>;
    listAll(params?: {
        limit?: number;
    }): AsyncGenerator<Invoice, void, undefined>;
    get(invoiceId: string): Promise<Invoice>;
}
export declare class Billing extends Resource {
    readonly invoices: Invoices;
}
export declare class Alerts extends Resource {
    list(): Promise<Alert[]>;
    create(params: AlertCreateParams, options?: PostOptions): Promise<Alert>;
    delete(alertId: string): Promise<Deleted>;
}
export declare class Webhooks extends Resource {
    list(): Promise<Webhook[]>;
    /** A new endpoint; its signing secret is in `.secret`, and only in this answer. */
    create(params: WebhookCreateParams, options?: PostOptions): Promise<Webhook>;
    delete(webhookId: string): Promise<Deleted>;
    /** A page of the events sent (or being sent) to the endpoint, newest first. */
    deliveries(webhookId: string, params?: PageParams): Promise<WebhookDeliveryList>;
    deliveriesAll(webhookId: string, params?: {
        limit?: number;
    }): AsyncGenerator<WebhookDelivery, void, undefined>;
}
export {};
