/**
 * Engine workers: how many are live in each state, and how busy they are. Read from the
 * worker registry (this process's worker embedded; the fleet's live workers, as /health lists
 * them, on a fleet node), sampled once a second: busy seconds accumulate while a worker's
 * state is `running`, so rate(busy) / rate(live) is the busy ratio over any window, and
 * `zimage_engine_busy_ratio` gives it over the last minute for a glance.
 */
import type { Engine } from '../interfaces.js';
import type { WorkerInfo, WorkerRegistry } from '../worker/registry.js';
import type { ServerMetrics } from './registry.js';

const SAMPLE_MS = 1000;
const WINDOW_MS = 60_000;

interface Sample {
  at: number;
  busy: number;
  live: number;
}

export function watchWorkers(metrics: ServerMetrics, workers: WorkerRegistry, engine: Engine | null): () => void {
  let latest: WorkerInfo[] = [];
  let last = Date.now();
  let busyTotal = 0;
  let liveTotal = 0;
  const window: Sample[] = [{ at: last, busy: 0, live: 0 }];
  let sampling = false;

  const sample = async () => {
    if (sampling) return; // a slow registry read (Redis) is still out
    sampling = true;
    try {
      latest = await workers.live();
    } catch {
      // Keep the previous sample: the registry being unreachable is not idle time.
    } finally {
      sampling = false;
    }
    const now = Date.now();
    const dt = Math.max(0, now - last) / 1000;
    last = now;
    const busy = latest.filter((w) => w.state === 'running').length;
    metrics.workerBusy.inc(dt * busy);
    metrics.workerTime.inc(dt * latest.length);
    busyTotal += dt * busy;
    liveTotal += dt * latest.length;
    window.push({ at: now, busy: busyTotal, live: liveTotal });
    while (window.length > 2 && window[1].at <= now - WINDOW_MS) window.shift();
  };
  const timer = setInterval(() => void sample(), SAMPLE_MS);
  timer.unref();
  void sample();

  metrics.gauge('zimage_workers', 'Live engine workers by loop state (idle, running, waiting_for_engine, ...).', ['state'], (g) => {
    g.reset();
    const counts = new Map<string, number>();
    for (const w of latest) counts.set(w.state, (counts.get(w.state) ?? 0) + 1);
    for (const [state, n] of counts) g.set({ state }, n);
  });
  metrics.gauge('zimage_engine_busy_ratio', 'Share of live worker time spent running tasks over the last minute (0 to 1).', [], (g) => {
    const first = window[0];
    const end = window[window.length - 1];
    const live = end.live - first.live;
    g.set(live > 0 ? (end.busy - first.busy) / live : 0);
  });
  metrics.gauge('zimage_engine_ready', "1 when this process's own engine is loaded and ready; 0 while it loads, after an error, or when this process runs no engine.", [], (g) => {
    g.set(engine?.state().state === 'ready' ? 1 : 0);
  });
  return () => clearInterval(timer);
}
