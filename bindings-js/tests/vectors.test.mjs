// Every case of every file in tests/vectors/ through the Node build of the package: once through the typed
// functions (tests/calls.mjs maps each argument object onto them), once through callCore by name. The phone
// functions' vectors run against the phone module (`micropower/phone`), every other vector against both
// modules: the first-page one (`micropower`) and the phone module, which has every function.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as light from "micropower";
import * as phone from "micropower/phone";
import { calls } from "./calls.mjs";

const PHONE_FUNCTIONS = ["normalize_phone", "registration_field_errors", "register"];
const jsName = (name) => (name === "par_30_60_90" ? "par30_60_90" : name.replace(/_([a-z])/g, (_, c) => c.toUpperCase()));

const dir = fileURLToPath(new URL("../../tests/vectors/", import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();

test("the phone module exports one typed function per core function, and the vectors cover them all", () => {
  const covered = files.map((f) => JSON.parse(readFileSync(dir + f, "utf8")).function).sort();
  assert.deepEqual([...phone.coreFunctions()].sort(), Object.keys(calls).sort());
  assert.deepEqual(covered, Object.keys(calls).sort());
  for (const name of Object.keys(calls)) assert.equal(typeof phone[jsName(name)], "function", name);
});

test("the first-page module has every function but the phone ones, and refuses those by name", () => {
  const expected = Object.keys(calls).filter((name) => !PHONE_FUNCTIONS.includes(name)).sort();
  assert.deepEqual([...light.coreFunctions()].sort(), expected);
  for (const name of expected) assert.equal(typeof light[jsName(name)], "function", name);
  for (const name of PHONE_FUNCTIONS) {
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
  const modules = PHONE_FUNCTIONS.includes(vector.function) ? { phone } : { light, phone };
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
