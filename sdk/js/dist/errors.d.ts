export interface ErrorInit {
    code?: string;
    status?: number;
    /** The error's details exactly as the server sent them (snake_case keys). */
    details?: Record<string, unknown>;
    requestId?: string;
    headers?: Record<string, string>;
    cause?: unknown;
}
export declare class MemoryAPIError extends Error {
    readonly code: string;
    readonly status: number | undefined;
    readonly details: Record<string, unknown>;
    readonly requestId: string | undefined;
    /** Response headers, lower-cased names. */
    readonly headers: Record<string, string>;
    constructor(message: string, init?: ErrorInit);
}
/** The server could not be reached, or the connection broke, after every retry. */
export declare class APIConnectionError extends MemoryAPIError {
}
/** 400 INVALID_REQUEST; `field` names the offending JSON path. */
export declare class InvalidRequestError extends MemoryAPIError {
    get field(): string | undefined;
}
/** 400 CONFIRMATION_REQUIRED: a destructive call was made without confirming it. */
export declare class ConfirmationRequiredError extends MemoryAPIError {
}
/** 401 INVALID_API_KEY: missing, malformed, unknown, revoked or expired key. */
export declare class AuthenticationError extends MemoryAPIError {
}
/** 402 QUOTA_EXCEEDED: a monthly quota of the plan is used up. */
export declare class QuotaExceededError extends MemoryAPIError {
}
/** 403 INSUFFICIENT_SCOPE; `requiredScope` says which scope the key lacks. */
export declare class InsufficientScopeError extends MemoryAPIError {
    get requiredScope(): string | undefined;
}
/** 404: MEMORY_NOT_FOUND, JOB_NOT_FOUND, KEY_NOT_FOUND or NOT_FOUND (an unknown route). */
export declare class NotFoundError extends MemoryAPIError {
}
/** 405 METHOD_NOT_ALLOWED. */
export declare class MethodNotAllowedError extends MemoryAPIError {
}
/** 409 IDEMPOTENCY_CONFLICT: the Idempotency-Key was used before with another body. */
export declare class IdempotencyConflictError extends MemoryAPIError {
}
/** 413 PAYLOAD_TOO_LARGE: the body is over 10 MiB. */
export declare class PayloadTooLargeError extends MemoryAPIError {
}
/** 415 UNSUPPORTED_MEDIA_TYPE. */
export declare class UnsupportedMediaTypeError extends MemoryAPIError {
}
/** 429 RATE_LIMIT_EXCEEDED, thrown once retries are used up (or the wait is too long). */
export declare class RateLimitError extends MemoryAPIError {
    /** Seconds to wait, from `details.retry_after` or the `Retry-After` header. */
    get retryAfter(): number | undefined;
}
/** 500 INTERNAL_ERROR, or any other 5xx without a more specific code. */
export declare class InternalServerError extends MemoryAPIError {
}
/** 501 LLM_NOT_CONFIGURED: the call needs a language model and the server has none. */
export declare class LLMNotConfiguredError extends MemoryAPIError {
}
/** 502 UPSTREAM_ERROR: the model provider failed after the server's own retries. */
export declare class UpstreamError extends MemoryAPIError {
}
type ErrorClass = new (message: string, init?: ErrorInit) => MemoryAPIError;
/** The error class for a code, falling back to the HTTP status (e.g. a proxy's bare 502). */
export declare function errorClass(code: string, status: number): ErrorClass;
export {};
