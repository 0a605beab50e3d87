// Allocation previews per second through the Node build of the package, on the first case of
// tests/vectors/allocate_payment.json (a meter with an overdue installment), two ways: `allocatePayment`
// (JS objects in and out) and `callCoreText` (JSON text in and out, for callers that hold text).
//
// Given the native example's binary (`cargo build --release -p micropower-js --example bench_native`), each
// round runs the native side first and then the Node side, so every ratio compares figures taken moments
// apart: this machine is shared and its speed drifts by the minute. Within a round each side takes the best
// of `slices` short slices (the figure least disturbed by other processes); the ratios reported are the
// medians of the rounds' ratios.
//   node bench/bench.mjs [seconds per slice = 2] [rounds = 5] [native bench binary] [slices = 1]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as mp from "micropower";

const vector = JSON.parse(readFileSync(new URL("../../tests/vectors/allocate_payment.json", import.meta.url)));
const { snapshot, payment } = vector.cases[0].input;
const text = JSON.stringify({ snapshot, payment });
const seconds = Number(process.argv[2] || 2);
const rounds = Number(process.argv[3] || 5);
const native = process.argv[4];
const slices = Number(process.argv[5] || 1);

const objects = () => mp.allocatePayment(snapshot, payment);
const texts = () => mp.callCoreText("allocate_payment", text);
if (JSON.stringify(JSON.parse(texts())) !== JSON.stringify(objects())) throw new Error("the two paths disagree");

/** Microseconds per call of `f` over one round of `seconds`. */
function round(f) {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 500; i++) f();
    n += 500;
    now = process.hrtime.bigint();
  }
  return Number(now - start) / 1e3 / n;
}

/** The best of `slices` slices of `f`, in microseconds per call. */
const best = (f) => Math.min(...Array.from({ length: slices }, () => round(f)));

/** The native side's best slice of each path, in microseconds per call. */
function nativeRound() {
  const run = spawnSync(native, [String(seconds), String(slices)], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`${native}: ${run.stderr}`);
  const out = JSON.parse(run.stdout);
  return { json_call_us: 1e6 / Math.max(...out.json_rounds), call_text_us: 1e6 / Math.max(...out.call_text_rounds) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fixed = (x) => +x.toFixed(2);

for (let i = 0; i < 2000; i++) { objects(); texts(); } // warm-up, and V8's tier-up of the module
const rows = [];
for (let r = 0; r < rounds; r++) {
  const row = {};
  if (native) {
    const n = nativeRound();
    row.native_json_call_us = n.json_call_us;
    row.native_call_text_us = n.call_text_us;
  }
  row.node_objects_us = best(objects);
  row.node_text_us = best(texts);
  rows.push(row);
}
const summary = {
  case: vector.cases[0].name,
  node: process.version,
  node_objects_us: fixed(median(rows.map((r) => r.node_objects_us))),
  node_text_us: fixed(median(rows.map((r) => r.node_text_us))),
};
if (native) {
  summary.native_json_call_us = fixed(median(rows.map((r) => r.native_json_call_us)));
  summary.native_call_text_us = fixed(median(rows.map((r) => r.native_call_text_us)));
  summary.objects_over_native_json_call = fixed(median(rows.map((r) => r.node_objects_us / r.native_json_call_us)));
  summary.text_over_native_json_call = fixed(median(rows.map((r) => r.node_text_us / r.native_json_call_us)));
  summary.text_over_native_call_text = fixed(median(rows.map((r) => r.node_text_us / r.native_call_text_us)));
}
summary.rounds = rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, fixed(v)])));
console.log(JSON.stringify(summary));
