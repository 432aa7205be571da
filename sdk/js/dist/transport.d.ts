export declare const VERSION = "0.1.0";
export interface TransportOptions {
    apiKey: string;
    baseUrl: string;
    timeoutMs: number;
    maxRetries: number;
    maxRetryAfterMs: number;
    fetch: typeof fetch;
    sleep: (ms: number) => Promise<void>;
}
export interface RequestOptions {
    /** Query parameters, camelCase; undefined values are left out. */
    query?: Record<string, unknown>;
    /** JSON body, camelCase; converted to snake_case. */
    body?: unknown;
    idempotencyKey?: string;
}
export interface ApiResponse<T> {
    status: number;
    data: T;
    meta: Record<string, unknown>;
    headers: Record<string, string>;
}
export declare class Transport {
    private readonly opts;
    constructor(opts: TransportOptions);
    get baseUrl(): string;
    request<T>(method: string, path: string, options?: RequestOptions): Promise<ApiResponse<T>>;
    private once;
    /** Milliseconds to wait before the next try, or undefined to give up. */
    private retryDelay;
}
