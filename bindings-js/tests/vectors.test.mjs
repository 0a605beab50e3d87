// Every case of every file in tests/vectors/ through the package: once through the typed functions
// (tests/calls.mjs maps each argument object onto them), once through callCore by name. Every vector runs
// against the full module (`micropower` in Node.js); the first-page functions' vectors also run against the
// browser's first-page module (pkg/web/micropower.js, instantiated here with initSync).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as full from "micropower";
import { calls } from "./calls.mjs";

const pkg = fileURLToPath(new URL("../pkg/", import.meta.url));
const light = await import(pkg + "web/micropower.js");
light.initSync({ module: readFileSync(pkg + "web/micropower_bg.wasm") });

// FIRST_PAGE in bindings-js/src/lib.rs.
const FIRST_PAGE = ["round_money", "normalize_serial", "unit_price", "energy_for_money", "installment_schedule",
  "plan_summary", "eaas_price", "allocate_payment", "allocate_plan_payment", "validate_payment"];
const jsName = (name) => (name === "par_30_60_90" ? "par30_60_90" : name.replace(/_([a-z])/g, (_, c) => c.toUpperCase()));

const dir = fileURLToPath(new URL("../../tests/vectors/", import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();

test("the full module exports one typed function per core function, and the vectors cover them all", () => {
  const covered = files.map((f) => JSON.parse(readFileSync(dir + f, "utf8")).function).sort();
  assert.deepEqual([...full.coreFunctions()].sort(), Object.keys(calls).sort());
  assert.deepEqual(covered, Object.keys(calls).sort());
  for (const name of Object.keys(calls)) assert.equal(typeof full[jsName(name)], "function", name);
});

test("the first-page module has the first-page functions only, and refuses the others by name", () => {
  assert.deepEqual([...light.coreFunctions()].sort(), [...FIRST_PAGE].sort());
  for (const name of FIRST_PAGE) assert.equal(typeof light[jsName(name)], "function", name);
  for (const name of Object.keys(calls).filter((n) => !FIRST_PAGE.includes(n))) {
    assert.equal(light[jsName(name)], undefined, name);
    assert.throws(() => light.callCore(name, { raw: "+255712345678" }), { name: "NotFound", code: "not_found" });
  }
});

function check(run, c, where) {
  if ("error" in c) {
    let thrown;
    assert.throws(() => run(), (e) => ((thrown = e), true), `${where}: expected error ${c.error}`);
    assert.ok(thrown instanceof Error, `${where}: not an Error`);
    assert.equal(thrown.code, c.error, `${where}: ${thrown.message}`);
    assert.equal(thrown.details.code, c.error);
    assert.equal(thrown.name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase(), c.error);
  } else {
    assert.deepEqual(run(), c.output, where);
  }
}

for (const file of files) {
  const vector = JSON.parse(readFileSync(dir + file, "utf8"));
  const modules = FIRST_PAGE.includes(vector.function) ? { light, full } : { full };
  for (const [which, mp] of Object.entries(modules)) {
    test(`vectors/${file} (${which} module)`, async (t) => {
      const call = calls[vector.function];
      assert.ok(call, `no typed call for ${vector.function}`);
      for (const c of vector.cases) {
        await t.test(c.name, () => {
          check(() => call(mp, c.input), c, `${file} / ${c.name} (typed)`);
          check(() => mp.callCore(vector.function, c.input), c, `${file} / ${c.name} (callCore)`);
        });
      }
    });
  }
}
