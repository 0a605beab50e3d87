// The package itself: errors as JS Errors, the web (ES module) build, the published typings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as mp from "micropower";
import * as full from "micropower/full";

const pkg = fileURLToPath(new URL("../pkg/", import.meta.url));

test("a refusal is an Error with the variant as name, the snake_case code and the variant's fields", () => {
  const snapshot = JSON.parse(readFileSync(new URL("../../tests/vectors/validate_payment.json", import.meta.url)))
    .cases.find((c) => c.error === "amount_below_minimum");
  assert.ok(snapshot, "validate_payment has an amount_below_minimum case");
  try {
    mp.validatePayment(snapshot.input.snapshot, snapshot.input.request);
    assert.fail("accepted");
  } catch (e) {
    assert.ok(e instanceof Error);
    assert.equal(e.name, "AmountBelowMinimum");
    assert.equal(e.code, "amount_below_minimum");
    assert.equal(typeof e.details.minimum_amount, "string");
    assert.equal(e.details.message, e.message);
  }
});

test("a wrong argument shape is invalid_input, naming the problem", () => {
  assert.throws(() => mp.energyForMoney({ currency: "TZS" }, "1000"), { name: "InvalidInput", code: "invalid_input" });
  assert.throws(() => mp.energyForMoney({ currency: "TZS", price_per_kwh: "500" }, 0.5), { code: "invalid_input" });
  assert.throws(() => mp.callCore("no_such_function", {}), { code: "not_found" });
});

test("callCoreText answers the same text the object API answers, and refuses the same way", () => {
  const cases = JSON.parse(readFileSync(new URL("../../tests/vectors/allocate_payment.json", import.meta.url))).cases;
  for (const c of cases) {
    if (c.error) {
      assert.throws(() => mp.callCoreText("allocate_payment", JSON.stringify(c.input)), { code: c.error }, c.name);
    } else {
      const text = mp.callCoreText("allocate_payment", JSON.stringify(c.input));
      assert.equal(typeof text, "string");
      assert.deepEqual(JSON.parse(text), mp.allocatePayment(c.input.snapshot, c.input.payment), c.name);
    }
  }
  assert.throws(() => mp.callCoreText("allocate_payment", "{not json"), { name: "InvalidInput", code: "invalid_input" });
  assert.throws(() => mp.callCoreText("no_such_function", "{}"), { code: "not_found" });
});

test("every error code of the core is in the package's ErrorCode type", () => {
  const dts = readFileSync(pkg + "web/micropower.d.ts", "utf8");
  assert.ok(dts.includes('"not_found"'));
  for (const code of mp.errorCodes()) assert.ok(dts.includes(`"${code}"`), code);
});

test("the web build (ES module) runs in Node with initSync and gives the same numbers", async () => {
  const web = await import(pkg + "web/micropower.js");
  web.initSync({ module: readFileSync(pkg + "web/micropower_bg.wasm") });
  const tariff = { currency: "TZS", price_per_kwh: "500", fees: [{ name: "levy", price_per_kwh: "20" }] };
  assert.deepEqual(web.energyForMoney(tariff, "1040"), mp.energyForMoney(tariff, "1040"));
  assert.equal(web.unitPrice(tariff), "520");
});

test("in Node.js, micropower and micropower/full are the same full module", () => {
  assert.deepEqual([...mp.coreFunctions()].sort(), [...full.coreFunctions()].sort());
  assert.equal(mp.normalizePhone("0712 345 678", "KE"), "+254712345678");
  assert.equal(full.normalizePhone("0712 345 678", "KE"), "+254712345678");
});

test("the web full module runs in Node with initSync; the typings split the functions between the modules", async () => {
  const web = await import(pkg + "web/full.js");
  web.initSync({ module: readFileSync(pkg + "web/full_bg.wasm") });
  assert.equal(web.normalizePhone("0712 345 678", "KE"), "+254712345678");
  assert.deepEqual(web.energyForMoney({ currency: "TZS", price_per_kwh: "500" }, "1000"),
    mp.energyForMoney({ currency: "TZS", price_per_kwh: "500" }, "1000"));
  const light = readFileSync(`${pkg}web/micropower.d.ts`, "utf8");
  for (const dir of ["web", "node"]) {
    const whole = readFileSync(`${pkg}${dir}/full.d.ts`, "utf8");
    for (const fn of ["normalizePhone", "registrationFieldErrors", "register", "revenueReport", "openpaygoGenerate",
      "editPlanTotal", "allocatePayment"]) {
      assert.ok(whole.includes(`export function ${fn}(`), `${dir}/full.d.ts: ${fn}`);
    }
  }
  for (const fn of ["normalizePhone", "register", "revenueReport", "openpaygoGenerate", "editPlanTotal"]) {
    assert.ok(!light.includes(`export function ${fn}(`), `web/micropower.d.ts: ${fn}`);
  }
  assert.ok(light.includes("export function allocatePayment("), "web/micropower.d.ts: allocatePayment");
  // The first-page module is the smaller one: no phone-number metadata, a fraction of the functions.
  const size = (name) => readFileSync(`${pkg}web/${name}_bg.wasm`).length;
  assert.ok(size("micropower") * 4 < size("full"), `${size("micropower")} vs ${size("full")}`);
});

test("JS values that are not JSON are invalid_input, not a crash", () => {
  assert.throws(() => mp.unitPrice({ currency: "TZS", price_per_kwh: 10n }), { code: "invalid_input" });
  const cycle = { currency: "TZS", price_per_kwh: "1" };
  cycle.self = cycle;
  assert.throws(() => mp.unitPrice(cycle), { code: "invalid_input" });
  assert.equal(mp.unitPrice({ currency: "TZS", price_per_kwh: "500", fees: undefined }), "500");
});

test("no `any` in the package's public types", () => {
  for (const dir of ["web", "node"]) {
    for (const f of readdirSync(pkg + dir).filter((f) => f.endsWith(".d.ts"))) {
      const text = readFileSync(`${pkg}${dir}/${f}`, "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
      assert.doesNotMatch(text, /\bany\b/, `${dir}/${f}`);
    }
  }
});

test("the root README's JS example runs and prints what its comments say", async () => {
  const { execFileSync } = await import("node:child_process");
  const { writeFileSync, rmSync } = await import("node:fs");
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = readme.match(/## JavaScript in ten lines[\s\S]*?```js\n([\s\S]*?)```/);
  assert.ok(block, "README.md has the JS example");
  assert.ok(block[1].trim().split("\n").length <= 10, "ten lines at most");
  const file = fileURLToPath(new URL("../readme-example.test-tmp.mjs", import.meta.url));
  writeFileSync(file, block[1]);
  try {
    const out = execFileSync(process.execPath, [file], { encoding: "utf8" });
    assert.match(out, /quantity: '2'/);
    assert.match(out, /2026-01-08 700/);
    assert.match(out, /UnknownSerial unknown_serial/);
  } finally {
    rmSync(file, { force: true });
  }
});
