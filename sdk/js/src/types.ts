// Result and parameter types, camelCase. Results are the server's JSON with keys
// converted, so fields this SDK does not know yet are still there at run time.
// Times are the server's RFC 3339 strings; Date values passed in are sent as such.

export type Metadata = Record<string, unknown>;
export type Timestamp = string | Date;
export type Scope = "read" | "write" | "delete" | "admin";
export type Mode = "live" | "test";

export interface Memory {
  id: string;
  text: string;
  metadata: Metadata;
  userId: string | null;
  agentId: string | null;
  sessionId: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
  expiresAt: string | null;
  /** Only on retrieval results: 0 to 1, higher is more relevant. */
  relevance?: number;
}

export interface ScopeParams {
  userId?: string;
  agentId?: string;
  sessionId?: string;
}

export interface MemoryCreateParams extends ScopeParams {
  text: string;
  metadata?: Metadata;
  expiresAt?: Timestamp | null;
}

export interface MemoryUpdateParams {
  text?: string;
  metadata?: Metadata;
  expiresAt?: Timestamp | null;
}

export interface MemoryListParams extends ScopeParams {
  limit?: number;
  cursor?: string;
}

export interface MemoryList {
  memories: Memory[];
  nextCursor: string | null;
}

/** The answer of a delete: the id and `deleted: true`. */
export interface Deleted {
  id: string;
  deleted: true;
}

export type MemoryDeleted = Deleted;

export interface DeleteAllParams extends ScopeParams {
  /** Must be true; without it the server answers ConfirmationRequiredError. */
  confirm?: boolean;
}

export interface MemoryEvent {
  event: "ADD" | "UPDATE" | "DELETE";
  text: string;
  previousText: string | null;
  at: string;
  source: string;
  jobId?: string | null;
}

export interface RetrievalParams extends ScopeParams {
  context: string;
  maxMemories?: number;
  relevanceThreshold?: number;
  filters?: { metadata?: Metadata; createdAfter?: Timestamp | null; createdBefore?: Timestamp | null };
}

export interface QueryAnswerParams extends RetrievalParams {
  /** Must contain `{question}`. */
  promptTemplate?: string;
}

export interface QueryResult {
  memories: Memory[];
}

export interface QueryAnswer {
  response: string;
  memories: Memory[];
  model: string;
  grounded: boolean;
}

export interface ExtractMessage {
  role: "user" | "assistant" | "system";
  content: string;
  createdAt?: Timestamp;
}

export interface ExtractParams extends ScopeParams {
  messages: ExtractMessage[];
  metadata?: Metadata;
}

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "canceled";

export interface Job {
  id: string;
  type: "extract" | "embeddings";
  status: JobStatus;
  progress: { total: number; done: number; failed: number };
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface WaitOptions {
  /** Between polls; default 1000. */
  pollIntervalMs?: number;
  /** Give up (throwing) after this long; default 300000. */
  timeoutMs?: number;
}

export interface Limits {
  requestsPerMinute: number;
  requestsPerDay: number;
  concurrent: number;
  monthly: Record<string, number | null>;
}

export interface Account {
  org: { id: string; name: string; plan: string; createdAt: string };
  limits: Limits;
  apiKey: { id: string; prefix: string; scopes: Scope[]; mode: Mode };
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  mode: Mode;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** The whole secret: only on the answer of create and rotate. */
  key?: string;
}

export interface ApiKeyCreateParams {
  name: string;
  scopes: Scope[];
  mode?: Mode;
  expiresAt?: Timestamp | null;
}

export interface ApiKeyRevoked {
  id: string;
  revoked: true;
}

export interface Usage {
  period: { start: string; end: string };
  plan: string;
  usage: Record<string, number>;
  limits: Limits;
  cost: { baseUsd: number; overageUsd: number; totalUsd: number; projectedTotalUsd: number };
}

export interface UsageHistoryParams {
  from?: Timestamp;
  to?: Timestamp;
  granularity?: "day" | "hour";
  groupBy?: "endpoint" | "api_key";
  format?: "json" | "csv";
}

export interface UsageHistory {
  buckets: Array<{ start: string; group?: string } & Record<string, unknown>>;
}

/** Cursor pagination of list calls: `limit` 1–100 (default 20), `cursor` from `nextCursor`. */
export interface PageParams {
  limit?: number;
  cursor?: string;
}

export interface AuditEvent {
  id: string;
  at: string;
  orgId: string;
  keyId: string;
  /** The route, e.g. "POST /v1/memories". */
  endpoint: string;
  ip: string;
  userAgent: string;
  requestId: string;
  status: number;
  durationMs: number;
  tokens: number;
}

export interface AuditList {
  events: AuditEvent[];
  nextCursor: string | null;
}

export interface AuditParams extends PageParams {
  format?: "json" | "jsonl";
}

export interface InvoiceLine {
  description: string;
  /** Null for the plan's base fee. */
  metric: string | null;
  quantity: number;
  unitPriceUsd: number;
  amountUsd: number;
}

export interface Invoice {
  id: string;
  period: { start: string; end: string };
  status: "draft" | "open" | "paid" | "payment_failed" | "void";
  lines: InvoiceLine[];
  subtotalUsd: number;
  totalUsd: number;
  stripeInvoiceId: string | null;
}

export interface InvoiceList {
  invoices: Invoice[];
  nextCursor: string | null;
}

export type AlertMetric = "monthly_spend" | "api_calls" | "tokens" | "memories" | "embeddings";

export interface AlertCreateParams {
  metric: AlertMetric;
  threshold: number;
  thresholdType: "absolute" | "percent_of_limit";
  notify: Array<"email" | "webhook">;
}

export interface Alert extends AlertCreateParams {
  id: string;
  createdAt: string;
  lastTriggeredAt: string | null;
}

export type WebhookEventType =
  | "usage.threshold_reached"
  | "usage.quota_exceeded"
  | "billing.invoice_created"
  | "billing.payment_failed"
  | "memory.created"
  | "memory.updated"
  | "memory.deleted";

export interface WebhookCreateParams {
  url: string;
  events: WebhookEventType[];
}

export interface Webhook extends WebhookCreateParams {
  id: string;
  createdAt: string;
  /** The signing secret (whsec_…): only on the answer of create. */
  secret?: string;
}

export interface WebhookDeliveryAttempt {
  attemptedAt: string;
  /** Null when nothing came back (refused, timed out). */
  responseStatus: number | null;
  /** Null when the endpoint answered 2xx. */
  error: string | null;
}

export interface WebhookDelivery {
  /** evt_…, also the webhook-id header of the request. */
  id: string;
  event: WebhookEventType;
  status: "pending" | "succeeded" | "failed";
  attempts: number;
  responseStatus: number | null;
  createdAt: string;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  /** Every attempt so far, oldest first. */
  attemptLog: WebhookDeliveryAttempt[];
}

export interface WebhookDeliveryList {
  deliveries: WebhookDelivery[];
  nextCursor: string | null;
}

/** Per-call options for POSTs. */
export interface PostOptions {
  /** Defaults to a new UUID v4 per call, reused across that call's retries. */
  idempotencyKey?: string;
}
