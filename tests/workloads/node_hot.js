// A Node.js workload for JIT perf maps: run with --perf-basic-prof; the
// optimized hotJsFunction must show up by name. usage: node node_hot.js SECONDS
'use strict';

function hotJsFunction(n) {
  let x = 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
  }
  return x;
}

const end = Date.now() + 1000 * Number(process.argv[2] || 10);
let sink = 0;
while (Date.now() < end) {
  sink ^= hotJsFunction(1e6);
}
process.exitCode = sink === 0.5 ? 1 : 0;
