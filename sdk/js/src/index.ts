// @memory-api/sdk: the JavaScript client for memoryd.
export { MemoryClient, DEFAULT_BASE_URL } from "./client.js";
export type {
  ClientOptions,
  Memories,
  Batch,
  Jobs,
  UsageResource,
  AccountResource,
  Keys,
  Billing,
  Invoices,
  Alerts,
  Webhooks,
} from "./client.js";
export * from "./errors.js";
export type * from "./types.js";
export { VERSION } from "./transport.js";
