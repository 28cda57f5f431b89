/**
 * The worker registry: who is serving, with what, doing what. In a fleet each worker
 * publishes its entry to Redis every few seconds; an entry whose heartbeat is older than
 * the TTL is not live (and is pruned). Embedded, the registry is the in-process worker.
 * /health, /v1/models, ETAs and the step count of queued tasks read it.
 */
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { Engine, TaskKind } from '../interfaces.js';
import type { Worker } from './worker.js';

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  engine: string;
  synthetic: boolean;
  model: string | null;
  device: string | null;
  /** The worker loop's state (idle, running, waiting_for_engine, ...). */
  state: string;
  /** The engine's state: loading, ready or error. */
  engineState: string;
  message: string | null;
  currentTask: string | null;
  /** Epoch ms. */
  heartbeatAt: number;
  startedAt: number;
  defaultSteps: Record<TaskKind, number>;
}

export interface WorkerRegistry {
  /** Workers alive now, oldest first. */
  live(): Promise<WorkerInfo[]>;
}

/** The entry of one in-process worker, read fresh. */
export function describeWorker(worker: Worker, engine: Engine, startedAt: number): WorkerInfo {
  const state = engine.state();
  return {
    id: worker.id,
    host: os.hostname(),
    pid: process.pid,
    engine: engine.name,
    synthetic: engine.synthetic,
    model: state.model ?? null,
    device: state.device ?? null,
    state: worker.state(),
    engineState: state.state,
    message: state.message ?? null,
    currentTask: worker.currentTask(),
    heartbeatAt: Date.now(),
    startedAt,
    defaultSteps: { generate: engine.defaultSteps('generate'), edit: engine.defaultSteps('edit') },
  };
}

/** Embedded: the workers of this process (none on a --no-worker node). */
export class LocalRegistry implements WorkerRegistry {
  constructor(private readonly entries: () => WorkerInfo[]) {}

  async live(): Promise<WorkerInfo[]> {
    return this.entries();
  }
}

/** Fleet: entries in one Redis hash, written by each worker, read by every node. */
export class RedisRegistry implements WorkerRegistry {
  private readonly key: string;

  constructor(private readonly redis: Redis, prefix: string, private readonly ttlMs: number) {
    this.key = `${prefix}:workers`;
  }

  async publish(info: WorkerInfo): Promise<void> {
    await this.redis.hset(this.key, info.id, JSON.stringify(info));
  }

  async remove(id: string): Promise<void> {
    await this.redis.hdel(this.key, id);
  }

  async live(): Promise<WorkerInfo[]> {
    const all = await this.redis.hgetall(this.key);
    const cutoff = Date.now() - this.ttlMs;
    const live: WorkerInfo[] = [];
    const stale: string[] = [];
    for (const [id, json] of Object.entries(all)) {
      try {
        const info = JSON.parse(json) as WorkerInfo;
        if (info.heartbeatAt >= cutoff) live.push(info);
        else stale.push(id);
      } catch {
        stale.push(id);
      }
    }
    // Entries of workers that died without removing themselves (SIGKILL, lost box).
    if (stale.length) await this.redis.hdel(this.key, ...stale).catch(() => undefined);
    return live.sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
  }

  /** Publishes the entry every intervalMs until the returned function is called (which removes it). */
  announce(entry: () => WorkerInfo, intervalMs: number): () => Promise<void> {
    const beat = () => this.publish(entry()).catch(() => undefined);
    void beat();
    const timer = setInterval(beat, intervalMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await this.remove(entry().id).catch(() => undefined);
    };
  }
}

/** Cached registry reads, so request paths (ETA, step counts) do not hit Redis each time. */
export class CachedRegistry implements WorkerRegistry {
  private cached: { at: number; workers: Promise<WorkerInfo[]> } | undefined;

  constructor(private readonly inner: WorkerRegistry, private readonly maxAgeMs = 1000) {}

  live(): Promise<WorkerInfo[]> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > this.maxAgeMs) {
      const workers = this.inner.live().catch(() => [] as WorkerInfo[]);
      this.cached = { at: now, workers };
    }
    return this.cached.workers;
  }
}
