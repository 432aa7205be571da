// HTTP transport: the envelope, errors, retries and idempotency keys, on global fetch.

import { randomUUID } from "node:crypto";
import { camelKeys, snakeKeys } from "./casing.js";
import { APIConnectionError, MemoryAPIError, errorClass } from "./errors.js";

export const VERSION = "0.1.0";

// 501 LLM_NOT_CONFIGURED is a 5xx but permanent: retrying cannot help.
const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
// Backoff without Retry-After: 0.5 s, 1 s, 2 s, ... capped, each scaled by jitter.
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 8000;

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

export class Transport {
  constructor(private readonly opts: TransportOptions) {}

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const url = new URL(this.opts.baseUrl + path);
    for (const [key, value] of Object.entries((snakeKeys(options.query ?? {}) as Record<string, unknown>))) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.opts.apiKey}`,
      Accept: "application/json",
      "User-Agent": `memory-api-js/${VERSION}`,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(snakeKeys(options.body));
      headers["Content-Type"] = "application/json";
    }
    if (method === "POST") {
      // One key per call, reused by every retry of it: a retry after a lost answer
      // then replays the first result instead of writing twice.
      headers["Idempotency-Key"] = options.idempotencyKey ?? randomUUID();
    }

    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once<T>(method, url, headers, body);
      } catch (err) {
        const delay = this.retryDelay(err, attempt);
        if (delay === undefined) throw err;
        await this.opts.sleep(delay);
      }
    }
  }

  private async once<T>(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<ApiResponse<T>> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.opts.timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await this.opts.fetch(url, { method, headers, body, signal: controller.signal });
      text = await res.text();
    } catch (err) {
      const reason = controller.signal.aborted ? `timed out after ${this.opts.timeoutMs} ms` : String((err as Error)?.message ?? err);
      throw new APIConnectionError(`Could not reach ${this.opts.baseUrl}: ${reason}`, { code: "CONNECTION_ERROR", cause: err });
    } finally {
      clearTimeout(timer);
    }
    const resHeaders: Record<string, string> = {};
    res.headers.forEach((value, key) => (resHeaders[key.toLowerCase()] = value));
    if (!res.ok) throw apiError(res.status, resHeaders, text);

    if (!(resHeaders["content-type"] ?? "").startsWith("application/json")) {
      return { status: res.status, data: text as T, meta: {}, headers: resHeaders };
    }
    const envelope = text ? JSON.parse(text) : {};
    return {
      status: res.status,
      data: camelKeys(envelope.data) as T,
      meta: (camelKeys(envelope.meta ?? {}) as Record<string, unknown>),
      headers: resHeaders,
    };
  }

  /** Milliseconds to wait before the next try, or undefined to give up. */
  private retryDelay(err: unknown, attempt: number): number | undefined {
    if (!(err instanceof MemoryAPIError) || attempt >= this.opts.maxRetries) return undefined;
    if (!(err instanceof APIConnectionError) && !RETRY_STATUSES.has(err.status ?? 0)) return undefined;
    const retryAfter = parseRetryAfter(err.headers["retry-after"]);
    if (retryAfter !== undefined) {
      // A daily limit can say "retry in 9 hours": better to fail now than hang.
      return retryAfter <= this.opts.maxRetryAfterMs ? retryAfter : undefined;
    }
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
    return backoff * (0.5 + Math.random() / 2);
  }
}

/** Retry-After in ms: whole seconds from memoryd, but an HTTP date from a proxy is legal too. */
function parseRetryAfter(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (!Number.isNaN(seconds)) return Math.max(0, seconds * 1000);
  const when = Date.parse(value);
  return Number.isNaN(when) ? undefined : Math.max(0, when - Date.now());
}

function apiError(status: number, headers: Record<string, string>, text: string): MemoryAPIError {
  let code = "";
  let message = `HTTP ${status}`;
  let details: Record<string, unknown> = {};
  let requestId = headers["x-request-id"];
  try {
    const envelope = JSON.parse(text);
    if (envelope && typeof envelope === "object") {
      code = envelope.error?.code ?? "";
      message = envelope.error?.message ?? message;
      details = envelope.error?.details ?? {};
      requestId = envelope.meta?.request_id ?? requestId;
    }
  } catch {
    // Not our envelope (a proxy's HTML page, say): the status decides the class.
  }
  const Cls = errorClass(code, status);
  return new Cls(message, { code, status, details, requestId, headers });
}
