// Errors thrown by the client: one class per API error code, all extending
// MemoryAPIError, so callers can catch broadly or `instanceof` one case.

export interface ErrorInit {
  code?: string;
  status?: number;
  /** The error's details exactly as the server sent them (snake_case keys). */
  details?: Record<string, unknown>;
  requestId?: string;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class MemoryAPIError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  readonly details: Record<string, unknown>;
  readonly requestId: string | undefined;
  /** Response headers, lower-cased names. */
  readonly headers: Record<string, string>;

  constructor(message: string, init: ErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = init.code ?? "";
    this.status = init.status;
    this.details = init.details ?? {};
    this.requestId = init.requestId;
    this.headers = init.headers ?? {};
  }
}

/** The server could not be reached, or the connection broke, after every retry. */
export class APIConnectionError extends MemoryAPIError {}

/** 400 INVALID_REQUEST; `field` names the offending JSON path. */
export class InvalidRequestError extends MemoryAPIError {
  get field(): string | undefined {
    return this.details.field as string | undefined;
  }
}

/** 400 CONFIRMATION_REQUIRED: a destructive call was made without confirming it. */
export class ConfirmationRequiredError extends MemoryAPIError {}
/** 401 INVALID_API_KEY: missing, malformed, unknown, revoked or expired key. */
export class AuthenticationError extends MemoryAPIError {}
/** 402 QUOTA_EXCEEDED: a monthly quota of the plan is used up. */
export class QuotaExceededError extends MemoryAPIError {}

/** 403 INSUFFICIENT_SCOPE; `requiredScope` says which scope the key lacks. */
export class InsufficientScopeError extends MemoryAPIError {
  get requiredScope(): string | undefined {
    return this.details.required_scope as string | undefined;
  }
}

/** 404: MEMORY_NOT_FOUND, JOB_NOT_FOUND, KEY_NOT_FOUND or NOT_FOUND (an unknown route). */
export class NotFoundError extends MemoryAPIError {}
/** 405 METHOD_NOT_ALLOWED. */
export class MethodNotAllowedError extends MemoryAPIError {}
/** 409 IDEMPOTENCY_CONFLICT: the Idempotency-Key was used before with another body. */
export class IdempotencyConflictError extends MemoryAPIError {}
/** 413 PAYLOAD_TOO_LARGE: the body is over 10 MiB. */
export class PayloadTooLargeError extends MemoryAPIError {}
/** 415 UNSUPPORTED_MEDIA_TYPE. */
export class UnsupportedMediaTypeError extends MemoryAPIError {}

/** 429 RATE_LIMIT_EXCEEDED, thrown once retries are used up (or the wait is too long). */
export class RateLimitError extends MemoryAPIError {
  /** Seconds to wait, from `details.retry_after` or the `Retry-After` header. */
  get retryAfter(): number | undefined {
    const value = this.details.retry_after ?? this.headers["retry-after"];
    const n = Number(value);
    return value === undefined || Number.isNaN(n) ? undefined : n;
  }
}

/** 500 INTERNAL_ERROR, or any other 5xx without a more specific code. */
export class InternalServerError extends MemoryAPIError {}
/** 501 LLM_NOT_CONFIGURED: the call needs a language model and the server has none. */
export class LLMNotConfiguredError extends MemoryAPIError {}
/** 502 UPSTREAM_ERROR: the model provider failed after the server's own retries. */
export class UpstreamError extends MemoryAPIError {}

type ErrorClass = new (message: string, init?: ErrorInit) => MemoryAPIError;

const byCode: Record<string, ErrorClass> = {
  INVALID_REQUEST: InvalidRequestError,
  CONFIRMATION_REQUIRED: ConfirmationRequiredError,
  INVALID_API_KEY: AuthenticationError,
  QUOTA_EXCEEDED: QuotaExceededError,
  INSUFFICIENT_SCOPE: InsufficientScopeError,
  METHOD_NOT_ALLOWED: MethodNotAllowedError,
  IDEMPOTENCY_CONFLICT: IdempotencyConflictError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  UNSUPPORTED_MEDIA_TYPE: UnsupportedMediaTypeError,
  RATE_LIMIT_EXCEEDED: RateLimitError,
  INTERNAL_ERROR: InternalServerError,
  LLM_NOT_CONFIGURED: LLMNotConfiguredError,
  UPSTREAM_ERROR: UpstreamError,
};

const byStatus: Record<number, ErrorClass> = {
  400: InvalidRequestError,
  401: AuthenticationError,
  402: QuotaExceededError,
  403: InsufficientScopeError,
  404: NotFoundError,
  405: MethodNotAllowedError,
  409: IdempotencyConflictError,
  413: PayloadTooLargeError,
  415: UnsupportedMediaTypeError,
  429: RateLimitError,
  501: LLMNotConfiguredError,
  502: UpstreamError,
};

/** The error class for a code, falling back to the HTTP status (e.g. a proxy's bare 502). */
export function errorClass(code: string, status: number): ErrorClass {
  if (Object.hasOwn(byCode, code)) return byCode[code];
  // Every *_NOT_FOUND code, including ones added later, is a NotFoundError.
  if (code === "NOT_FOUND" || code.endsWith("_NOT_FOUND")) return NotFoundError;
  if (Object.hasOwn(byStatus, status)) return byStatus[status];
  if (status >= 500) return InternalServerError;
  return MemoryAPIError;
}
