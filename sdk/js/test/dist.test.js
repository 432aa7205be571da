// dist/ is committed so that the SDK and its tests need no build step; this checks
// that it is what `npm run build` makes from src/ today.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(import.meta.url), "../..");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");

const listFiles = (dir) => readdirSync(dir, { recursive: true }).filter((f) => f.endsWith(".js") || f.endsWith(".ts")).sort();

// Without node_modules (no `npm ci` yet) a developer gets a skip; CI must have it.
const missing = !existsSync(TSC) && !process.env.CI;

test("dist is up to date with src (run `npm run build` if not)", { skip: missing && "run `npm ci` first" }, () => {
  const out = mkdtempSync(join(tmpdir(), "memory-api-dist-"));
  try {
    execFileSync(process.execPath, [TSC, "-p", join(ROOT, "tsconfig.json"), "--outDir", out], { stdio: "inherit" });
    const dist = join(ROOT, "dist");
    assert.deepEqual(listFiles(dist), listFiles(out));
    for (const file of listFiles(out)) {
      assert.equal(readFileSync(join(dist, file), "utf8"), readFileSync(join(out, file), "utf8"), `dist/${file} is stale`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
