// The one Node built-in the SDK uses, declared here so the build needs no @types/node.
declare module "node:crypto" {
  export function randomUUID(): string;
}
