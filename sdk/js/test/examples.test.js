// The JavaScript examples of the docs run verbatim against the real server.
//
// Every ```js block of the pages below is run as its own ES module, as a reader would
// paste it, against a fresh org, with `@memory-api/sdk` installed beside it (a link to
// this package, as `npm install ./sdk/js` makes). The only things taken from outside the
// block are the environment variables the block itself reads (MEMORYD_API_KEY,
// MEMORYD_BASE_URL). When a ```text block follows the example, it is what the example
// prints, to the character.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startServer } from "./support.js";

const SDK_ROOT = resolve(fileURLToPath(import.meta.url), "../..");
const REPO_ROOT = resolve(SDK_ROOT, "../..");
const PAGES = ["sdk/js/README.md", "docs/sdks/javascript.md", "docs/quickstart.md"];
const FENCE = /^```(\w*)\n([\s\S]*?)^```\n/gm;

/** [line, code, expected output or undefined] of every js block of a page. */
function examples(page) {
  const text = readFileSync(join(REPO_ROOT, page), "utf8");
  const blocks = [...text.matchAll(FENCE)];
  const out = [];
  blocks.forEach((block, i) => {
    if (block[1] !== "js") return;
    const next = blocks[i + 1];
    const between = next ? text.slice(block.index + block[0].length, next.index) : "";
    const expected = next && next[1] === "text" && between.trim() === "" ? next[2] : undefined;
    out.push([text.slice(0, block.index).split("\n").length, block[2], expected]);
  });
  return out;
}

let server;
let dir;

before(async () => {
  server = await startServer();
  dir = mkdtempSync(join(tmpdir(), "memory-api-examples-"));
  mkdirSync(join(dir, "node_modules", "@memory-api"), { recursive: true });
  symlinkSync(SDK_ROOT, join(dir, "node_modules", "@memory-api", "sdk"), "dir");
});

after(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("every page has examples", () => {
  for (const page of PAGES) assert.ok(examples(page).length > 0, `${page} has no js example`);
});

for (const page of PAGES) {
  test(`the examples of ${page} run as written`, async () => {
    for (const [line, code, expected] of examples(page)) {
      const name = `${page}:${line}`;
      const created = await server.admin("POST", "/v1/admin/orgs", { name, plan: "pro" });
      const file = join(dir, `example-${line}.mjs`);
      writeFileSync(file, code);
      const env = { PATH: process.env.PATH, MEMORYD_API_KEY: created.api_key.key, MEMORYD_BASE_URL: server.baseUrl };
      let stdout;
      try {
        ({ stdout } = await promisify(execFile)(process.execPath, [file], { cwd: dir, env, timeout: 60_000 }));
      } catch (err) {
        assert.fail(`${name} failed:\n${err.stdout ?? ""}${err.stderr ?? err}`);
      }
      if (expected !== undefined) assert.equal(stdout, expected, `${name} printed something else`);
    }
  });
}
