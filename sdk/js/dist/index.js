// @memory-api/sdk: the JavaScript client for memoryd.
export { MemoryClient, DEFAULT_BASE_URL } from "./client.js";
export * from "./errors.js";
export { VERSION } from "./transport.js";
