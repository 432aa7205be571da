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
export interface MemoryDeleted {
    id: string;
    deleted: true;
}
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
    filters?: {
        metadata?: Metadata;
        createdAfter?: Timestamp | null;
        createdBefore?: Timestamp | null;
    };
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
    progress: {
        total: number;
        done: number;
        failed: number;
    };
    result: Record<string, unknown> | null;
    error: {
        code: string;
        message: string;
    } | null;
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
    org: {
        id: string;
        name: string;
        plan: string;
        createdAt: string;
    };
    limits: Limits;
    apiKey: {
        id: string;
        prefix: string;
        scopes: Scope[];
        mode: Mode;
    };
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
    period: {
        start: string;
        end: string;
    };
    plan: string;
    usage: Record<string, number>;
    limits: Limits;
    cost: {
        baseUsd: number;
        overageUsd: number;
        totalUsd: number;
        projectedTotalUsd: number;
    };
}
export interface UsageHistoryParams {
    from?: Timestamp;
    to?: Timestamp;
    granularity?: "day" | "hour";
    groupBy?: "endpoint" | "api_key";
    format?: "json" | "csv";
}
export interface UsageHistory {
    buckets: Array<{
        start: string;
        group?: string;
    } & Record<string, unknown>>;
}
/** Per-call options for POSTs. */
export interface PostOptions {
    /** Defaults to a new UUID v4 per call, reused across that call's retries. */
    idempotencyKey?: string;
}
