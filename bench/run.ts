/**
 * `npm run bench`: the server-overhead benchmark (synthetic engine at 0 ms per step, so
 * everything measured is the server's own cost). Prints tables and, last, one JSON line
 * with every number. Writes no files in the repository.
 *   --quick          short run for development (~1 minute)
 *   --only=a,b       run only some parts: poll, dispatch, throughput, fleet, previews
 */
import os from 'node:os';
import { benchDispatch } from './dispatch.js';
import { benchFleet } from './fleet.js';
import { round, table, type Percentiles } from './helpers.js';
import { benchPoll } from './poll.js';
import { benchPreviews } from './previews.js';
import { benchThroughput } from './throughput.js';

const quick = process.argv.includes('--quick');
const onlyArg = process.argv.find((a) => a.startsWith('--only='));
const parts = new Set((onlyArg?.slice('--only='.length) ?? 'poll,dispatch,throughput,fleet,previews').split(','));

const PLAN = quick
  ? {
    poll: { rounds: 2, connections: 32, warmupMs: 500, durationMs: 1500 },
    dispatch: { tasks: 300, warmup: 30 },
    throughput: { tasks: 1000, inFlight: 64, checkpoints: [1000, 5000, 10_000], pollConnections: 32, pollMs: 1500 },
    fleet: { dispatchTasks: 200, warmup: 20, tasks: 24, stepMs: 25 },
    previews: { tasks: 3, rounds: 2, stepMs: 50, size: 1024, steps: 8 },
  }
  : {
    poll: { rounds: 2, connections: 32, warmupMs: 1000, durationMs: 5000 },
    dispatch: { tasks: 2000, warmup: 100 },
    throughput: { tasks: 10_000, inFlight: 64, checkpoints: [10_000, 50_000, 100_000], pollConnections: 32, pollMs: 4000 },
    fleet: { dispatchTasks: 1000, warmup: 50, tasks: 60, stepMs: 25 },
    previews: { tasks: 8, rounds: 3, stepMs: 50, size: 1024, steps: 8 },
  };

const ms = (v: number) => round(v, 3);
const pctRow = (label: string, p: Percentiles) => [label, p.count, ms(p.p50), ms(p.p90), ms(p.p99), ms(p.max), ms(p.mean)];

const started = performance.now();
const facts = {
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? 'unknown',
  memoryGb: round(os.totalmem() / 1024 ** 3, 1),
  loadAverage: os.loadavg().map((v) => round(v, 2)),
  mode: quick ? 'quick' : 'full',
};
console.log('Z-Image Server benchmark: server overhead with the synthetic engine at 0 ms per step');
console.log(`machine: ${facts.cpus} CPUs (${facts.cpuModel}), ${facts.memoryGb} GB, ${facts.platform}, node ${facts.node}`);
console.log(`load average at start: ${facts.loadAverage.join(' ')}  |  mode: ${facts.mode}`);
console.log('NOTE: a shared, noisy machine (other processes run beside this one); server, baseline and load');
console.log('generator share its cores, nothing is pinned. Compare numbers within one run, not across runs.\n');

const results: Record<string, unknown> = { facts };

if (parts.has('poll')) {
  const o = PLAN.poll;
  console.log(`1. Poll throughput: GET /v1/images/tasks/{id} (completed, url format) vs bare node:http with the same bytes`);
  console.log(`   closed loop, ${o.connections} keep-alive connections, ${o.warmupMs} ms warm-up + ${o.durationMs} ms measured per run, load generator in its own process`);
  const r = await benchPoll(o);
  console.log(table(
    ['run', 'target', 'req/s', 'p50 ms', 'p99 ms', 'body B', 'server CPU', 'CPU µs/req', 'loadgen CPU'],
    r.runs.map((x, i) => [i + 1, x.target, Math.round(x.rps), ms(x.latencyMs.p50), ms(x.latencyMs.p99), Math.round(x.meanBytes),
      `${Math.round(x.serverCpu * 100)}%`, round(x.cpuUsPerRequest, 1), `${Math.round(x.generatorCpu * 100)}%`]),
  ));
  console.log(`   mean: bare ${Math.round(r.bareRps)} req/s, server ${Math.round(r.serverRps)} req/s, ratio server/bare ${round(r.ratio, 3)} (target >= 0.6)`);
  console.log(`   server CPU per request: bare ${round(r.bareCpuUs, 1)} µs, server ${round(r.serverCpuUs, 1)} µs (${round(r.cpuRatio, 2)}x).`);
  console.log('   (CPU columns are shares of one core. Where the load generator is near 100% in the bare runs, bare req/s is');
  console.log('   capped by the generator, not the baseline; the CPU-per-request figures do not depend on that.)\n');
  results.poll = r;
}

if (parts.has('dispatch')) {
  const o = PLAN.dispatch;
  console.log(`2. Dispatch latency: task runnable -> engine run() starts, idle worker, ${o.tasks} tasks one at a time (+${o.warmup} warm-up each), in-process`);
  const r = await benchDispatch(o);
  console.log(table(['path (ms)', 'n', 'p50', 'p90', 'p99', 'max', 'mean'], [
    pctRow('enqueue committed (queued event) -> start', r.enqueueToStart),
    pctRow('  of which queued -> claim committed', r.queuedToClaimed),
    pctRow('  of which claim committed -> start', r.claimedToStart),
    pctRow('HTTP submit sent -> start', r.httpToStart),
    pctRow('  same HTTP run: queued event -> start', r.httpQueuedToStart),
  ]));
  console.log(`   target: p99 <= 5 ms (enqueue -> start): p99 = ${ms(r.enqueueToStart.p99)} ms\n`);
  results.dispatch = r;
}

if (parts.has('throughput')) {
  const o = PLAN.throughput;
  console.log(`3. Throughput: ${o.tasks} tasks (256x256, n=1, png) over HTTP, ${o.inFlight} submits in flight, server in a child process`);
  const r = await benchThroughput(o);
  console.log(`   all accepted in ${round(r.submitSeconds, 2)} s (${Math.round(r.acceptedPerSecond)} submits/s); ` +
    `first submit -> last completion ${round(r.totalSeconds, 2)} s = ${round(r.tasksPerSecond, 1)} tasks/s end to end; failed: ${r.failed}`);
  console.log(`   memory of the server process (poll rate: ${o.pollConnections} connections on random finished tasks for ${o.pollMs} ms before each reading):`);
  console.log(table(['finished tasks', 'how', 'RSS MB', 'heap MB', 'peak RSS MB', 'poll req/s'],
    r.memory.map((m) => [m.finished, m.via, m.rssMb, m.heapUsedMb, m.peakRssMb ?? 'n/a', m.pollRps === null ? '-' : Math.round(m.pollRps)])));
  console.log('   finished tasks beyond the HTTP-submitted ones were seeded straight into the SQLite file by a separate');
  console.log(`   process (copies of real completed tasks) while the server ran: the full path at ${Math.round(r.tasksPerSecond)} tasks/s would need ` +
    `${Math.round((o.checkpoints[o.checkpoints.length - 1] - o.tasks) / r.tasksPerSecond)} s more. Target: RSS flat, <= 150 MB.\n`);
  results.throughput = r;
}

if (parts.has('fleet')) {
  const o = PLAN.fleet;
  console.log(`4. Fleet mode (PostgreSQL + Redis/BullMQ on loopback, started here) against the embedded queue, same run`);
  const r = await benchFleet(o);
  console.log(`   dispatch: enqueue committed -> engine run() starts, idle worker, ${o.dispatchTasks} tasks one at a time (+${o.warmup} warm-up)`);
  console.log(table(['backend (ms)', 'n', 'p50', 'p90', 'p99', 'max', 'mean'], [
    pctRow('embedded (SQLite)', r.dispatch.embedded),
    pctRow('fleet (Postgres + BullMQ)', r.dispatch.fleet),
  ]));
  console.log(`   target: fleet p99 <= 20 ms: p99 = ${ms(r.dispatch.fleet.p99)} ms (embedded ${ms(r.dispatch.embedded.p99)} ms)`);
  console.log(`   throughput: synthetic engine sleeping ${o.stepMs} ms x 8 steps per task, ${o.tasks} tasks per worker, enqueued at once`);
  console.log(table(['backend', 'workers', 'tasks/s', 'vs 1 fleet worker'], [
    ['embedded', 1, round(r.throughput.embedded, 2), round(r.throughput.embedded / r.throughput.fleet[1], 2)],
    ...Object.entries(r.throughput.fleet).map(([w, tps]) => ['fleet', w, round(tps, 2), round(tps / r.throughput.fleet[1], 2)]),
  ]));
  console.log(`   target: 4 workers >= 3.5x 1 worker: ${round(r.throughput.scaling4, 2)}x\n`);
  results.fleet = r;
}

if (parts.has('previews')) {
  const o = PLAN.previews;
  console.log(`5. Live previews (ZIMAGE_PREVIEW_EVERY): synthetic engine sleeping ${o.stepMs} ms x ${o.steps} steps, ${o.size}x${o.size}, ` +
    `${o.tasks} tasks x ${o.rounds} rounds per setting, one SSE watcher per task, settings alternating`);
  const r = await benchPreviews(o);
  console.log(table(['ZIMAGE_PREVIEW_EVERY', 'mean task s', 'previews/task', 'vs off'], ['0', '2', '1'].map((s) => [
    s, round(r.meanSeconds[s], 4), round(r.previewsPerTask[s], 1), s === '0' ? '-' : `${round(r.overheadPercent[s], 2)} %`,
  ])));
  console.log(`   one preview: synthetic render ${round(r.cost.syntheticRenderMs, 3)} ms (event loop, beside the next step's wait), WebP encode ${round(r.cost.encodeMs, 3)} ms ` +
    `(${Math.round(r.cost.bytes)} B); a 128x128 latent picture (diffusers, 1024x1024): ${round(r.cost.latentEncodeMs, 3)} ms, ${r.cost.latentBytes} B`);
  console.log('   target: <= 2 % slower than previews off. GPU: node dist/bench/previews.js --gpu (the Python side).\n');
  results.previews = r;
}

console.log(`total bench time ${round((performance.now() - started) / 1000, 1)} s`);
console.log(JSON.stringify(results));
