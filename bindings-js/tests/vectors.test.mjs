// Every case of every file in tests/vectors/ through the Node build of the package: once through the typed
// functions (tests/calls.mjs maps each argument object onto them), once through callCore by name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as mp from "micropower";
import { calls } from "./calls.mjs";

const dir = fileURLToPath(new URL("../../tests/vectors/", import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();

test("the package exports one typed function per core function, and the vectors cover them all", () => {
  const covered = files.map((f) => JSON.parse(readFileSync(dir + f, "utf8")).function).sort();
  assert.deepEqual([...mp.coreFunctions()].sort(), Object.keys(calls).sort());
  assert.deepEqual(covered, Object.keys(calls).sort());
  for (const name of Object.keys(calls)) {
    const js = name.replace(/_([a-z])/g, (_, c) => c.toUpperCase()).replace(/^par30(\d)/, "par30_$1");
    assert.equal(typeof mp[name === "par_30_60_90" ? "par30_60_90" : js], "function", name);
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
  test(`vectors/${file}`, async (t) => {
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
