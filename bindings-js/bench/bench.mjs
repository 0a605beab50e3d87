// Allocation previews per second through the Node build of the package: allocatePayment on the first case
// of tests/vectors/allocate_payment.json (a meter with an overdue installment), the whole JS call
// (arguments in, allocation out). The native figure comes from `cargo run --release -p micropower-js
// --example bench_native` on the same case; BENCHMARKS.md has both and their ratio.
//   node bench/bench.mjs [seconds per round = 2] [rounds = 5]
import { readFileSync } from "node:fs";
import * as mp from "micropower";

const vector = JSON.parse(readFileSync(new URL("../../tests/vectors/allocate_payment.json", import.meta.url)));
const { snapshot, payment } = vector.cases[0].input;
const seconds = Number(process.argv[2] || 2);
const rounds = Number(process.argv[3] || 5);

for (let i = 0; i < 2000; i++) mp.allocatePayment(snapshot, payment); // warm-up
const rates = [];
for (let r = 0; r < rounds; r++) {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 500; i++) mp.allocatePayment(snapshot, payment);
    n += 500;
    now = process.hrtime.bigint();
  }
  rates.push(n / (Number(now - start) / 1e9));
}
rates.sort((a, b) => a - b);
const median = rates[Math.floor(rates.length / 2)];
console.log(JSON.stringify({ case: vector.cases[0].name, node: process.version, previews_per_second: Math.round(median),
  us_per_preview: +(1e6 / median).toFixed(2), rounds: rates.map(Math.round) }));
