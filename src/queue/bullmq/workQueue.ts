import { Worker as BullWorker, type Job } from 'bullmq';
import type pg from 'pg';
import type { Redis } from 'ioredis';
import { LostClaimError } from '../../errors.js';
import { newToken } from '../../ids.js';
import type { Claim, TaskError, TaskPreview, TaskProgress, TaskResult, TaskState, WorkQueue } from '../../interfaces.js';
import type { Logger } from '../../log.js';
import { HeldClaims } from '../claims.js';
import { pgRowToTask } from '../postgres/rows.js';
import type { FleetSignals } from '../postgres/store.js';
import * as rows from '../postgres/workRows.js';
import { deferDelayMs, deferralsExhausted, MAX_DEFERRALS, type DeferOutcome } from '../deferral.js';
import { exhaustedError } from '../sqlite/taskErrors.js';
import { QUEUE_NAME } from './connection.js';
import type { FleetEvents } from './events.js';

export interface BullWorkQueueOptions {
  prefix: string;
  leaseMs: number;
  maxAttempts: number;
  log: Logger;
  now?: () => number;
}

type Ticket = Job<{ taskId: string }>;

/** Stray tickets (final or reclaimed tasks) skipped per claim before giving the loop back. */
const MAX_SKIPS = 50;

/**
 * A GPU worker's side of the fleet. BullMQ in manual mode hands out tickets (getNextJob with
 * our claim token, so the token fences the BullMQ lock and the Postgres row alike); the
 * Postgres row decides whether the ticket is still good. The BullMQ side of every write
 * comes after the fenced Postgres write and is best-effort: if it fails, a stray ticket is
 * dropped by the next claim, and a missing one is re-added by the reconciler.
 */
export class BullWorkQueue implements WorkQueue {
  private readonly bull: BullWorker;
  private readonly held = new HeldClaims();
  private readonly jobs = new Map<string, Ticket>();
  private readonly now: () => number;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly pool: pg.Pool, redis: Redis,
    private readonly signals: FleetSignals, private readonly events: FleetEvents, private readonly opts: BullWorkQueueOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.bull = new BullWorker(QUEUE_NAME, null, {
      connection: redis,
      prefix: opts.prefix,
      autorun: false,
      lockDuration: opts.leaseMs,
      stalledInterval: Math.max(1000, Math.floor(opts.leaseMs / 2)),
      // Our attempts (counted in Postgres at claim) decide when a task has failed too often;
      // BullMQ's own stall limit only backs that up (see deferredFailure below).
      maxStalledCount: opts.maxAttempts + 1,
      // getNextJob blocks this long when the queue is empty: short, so a stopping worker is not held.
      drainDelay: 1,
    });
    this.bull.on('error', (err) => opts.log.warn({ err }, 'BullMQ worker error; retrying'));
    // The cancel event, heard from any API node, stops the claim held here within a step.
    this.unsubscribe = events.subscribe((e) => {
      if (e.type === 'cancel_requested') this.held.abort(e.taskId, 'cancel');
    });
  }

  /** Starts BullMQ's stalled-job check: tickets of dead workers go back to wait. */
  async start(): Promise<void> {
    await this.bull.waitUntilReady();
    await this.bull.startStalledCheckTimer();
  }

  async claim(workerId: string): Promise<Claim | undefined> {
    for (let skipped = 0; skipped < MAX_SKIPS; skipped++) {
      const token = newToken();
      const job = (await this.bull.getNextJob(token, { block: true })) as Ticket | undefined;
      if (!job) return undefined;
      const taskId = job.data?.taskId;
      if (!taskId) {
        await this.drop(job, token);
        continue;
      }
      if (job.deferredFailure) {
        // BullMQ saw this ticket stall more often than allowed: its workers keep dying. Fail the task.
        await this.failStalled(taskId, job, token);
        continue;
      }
      const out = await rows.claimRow(this.pool, taskId, token, workerId, this.opts.leaseMs, this.now());
      if (out.outcome === 'claimed') {
        this.jobs.set(taskId, job);
        this.signals.publish('started', taskId);
        return this.held.open(pgRowToTask(out.row), token);
      }
      if (out.outcome === 'deferred') {
        // A deferred task's ticket that came early (re-added by the reconciler): it waits in BullMQ's delayed set.
        await job.moveToDelayed(out.notBefore, token).catch(async () => {
          await this.drop(job, token);
          await this.signals.ticket(taskId, Math.max(1, out.notBefore - this.now()));
        });
        continue;
      }
      await this.drop(job, token);
      if (out.outcome === 'finished') this.signals.publish(out.state, taskId);
    }
    return undefined;
  }

  async heartbeat(claim: Claim): Promise<void> {
    const cancel = await rows.heartbeatRow(this.pool, claim.task.id, claim.token, this.now() + this.opts.leaseMs);
    if (cancel === undefined) this.lost(claim);
    if (cancel) this.held.abort(claim.task.id, 'cancel');
    // A lost BullMQ lock (Redis restarted) is harmless: the Postgres lease is the one that fences.
    await this.jobs.get(claim.task.id)?.extendLock(claim.token, this.opts.leaseMs).catch(() => undefined);
  }

  async progress(claim: Claim, progress: TaskProgress): Promise<void> {
    const cancel = await rows.progressRow(this.pool, claim.task.id, claim.token, progress);
    if (cancel === undefined) this.lost(claim);
    if (cancel) this.held.abort(claim.task.id, 'cancel');
    this.signals.publish('progress', claim.task.id, progress);
  }

  /** A live preview over the fleet's event stream (nothing is written to Postgres). */
  preview(claim: Claim, preview: TaskPreview): void {
    this.events.publishPreview(claim.task.id, preview);
  }

  async complete(claim: Claim, result: TaskResult): Promise<void> {
    await this.finish(claim, 'completed', { result });
  }

  async fail(claim: Claim, error: TaskError, opts: { retry: boolean }): Promise<TaskState> {
    if (opts.retry && await rows.retryAllowed(this.pool, claim.task.id)) {
      await this.requeue(claim, error, 0);
      return 'queued';
    }
    await this.finish(claim, 'failed', { error });
    return 'failed';
  }

  async release(claim: Claim): Promise<void> {
    // A cancel asked for while the task ran is honoured, not carried into the next start.
    if (await rows.cancelRequested(this.pool, claim.task.id)) return this.finishCanceled(claim);
    await this.requeue(claim, null, 1);
  }

  async defer(claim: Claim, error: TaskError): Promise<DeferOutcome> {
    const id = claim.task.id;
    const state = await rows.deferState(this.pool, id);
    // A cancel asked for while the task ran is honoured, not carried into the next start.
    if (state?.cancelRequested) {
      await this.finishCanceled(claim);
      return { state: 'canceled', delayMs: 0 };
    }
    const deferral = (state?.deferrals ?? 0) + 1;
    if (state && deferral > MAX_DEFERRALS) {
      await this.finish(claim, 'failed', { error: deferralsExhausted(error) });
      return { state: 'failed', delayMs: 0 };
    }
    const delayMs = deferDelayMs(deferral);
    const notBefore = this.now() + delayMs;
    if (!(await rows.deferRow(this.pool, id, claim.token, error, notBefore))) this.lost(claim);
    const job = this.jobs.get(id);
    this.jobs.delete(id);
    this.held.forget(claim);
    // The ticket waits in BullMQ's delayed set; if its lock was lost meanwhile, a fresh delayed ticket instead.
    await (job ? job.moveToDelayed(notBefore, claim.token) : Promise.reject(new Error('no ticket')))
      .catch(() => this.signals.ticket(id, delayMs));
    this.signals.publish('requeued', id);
    return { state: 'queued', delayMs };
  }

  async finishCanceled(claim: Claim): Promise<void> {
    await this.finish(claim, 'canceled', {});
  }

  /** getNextJob already blocks until a ticket arrives (or drainDelay passes), so there is nothing more to wait for. */
  async waitForWork(): Promise<void> {}

  async close(): Promise<void> {
    this.unsubscribe();
    await this.bull.close(true).catch(() => undefined);
  }

  private async finish(claim: Claim, state: 'completed' | 'failed' | 'canceled', out: { result?: TaskResult; error?: TaskError }) {
    if (!(await rows.finishRow(this.pool, claim.task.id, claim.token, state, out, this.now()))) this.lost(claim);
    await this.dropHeld(claim);
    this.held.forget(claim);
    this.signals.publish(state, claim.task.id);
  }

  private async requeue(claim: Claim, error: TaskError | null, refund: 0 | 1) {
    if (!(await rows.requeueRow(this.pool, claim.task.id, claim.token, error, refund))) this.lost(claim);
    const job = this.jobs.get(claim.task.id);
    this.jobs.delete(claim.task.id);
    this.held.forget(claim);
    // The ticket goes back to wait; if its lock was lost meanwhile, a fresh ticket instead.
    await (job ? job.moveToWait(claim.token) : Promise.reject(new Error('no ticket')))
      .catch(() => this.signals.ticket(claim.task.id));
    this.signals.publish('requeued', claim.task.id);
  }

  private lost(claim: Claim): never {
    this.jobs.delete(claim.task.id);
    this.held.forget(claim, true);
    throw new LostClaimError(claim.task.id);
  }

  private async dropHeld(claim: Claim): Promise<void> {
    const job = this.jobs.get(claim.task.id);
    this.jobs.delete(claim.task.id);
    if (job) await this.drop(job, claim.token);
  }

  /** Removes a ticket this worker holds (its task is final or someone else's). */
  private async drop(job: Ticket, token: string): Promise<void> {
    await job.moveToCompleted(null, token, false).catch(() => job.remove().catch(() => undefined));
  }

  private async failStalled(taskId: string, job: Ticket, token: string): Promise<void> {
    const now = this.now();
    const { rowCount } = await this.pool.query(
      `UPDATE tasks SET state = 'failed', error = $2, finished_at = $3, claim_token = NULL, lease_expires_at = NULL
       WHERE id = $1 AND (state = 'queued' OR (state = 'running' AND lease_expires_at < $3))`,
      [taskId, JSON.stringify(exhaustedError(this.opts.maxAttempts)), now]);
    await job.moveToFailed(new Error(job.deferredFailure), token, false).catch(() => this.drop(job, token));
    if (rowCount) this.signals.publish('failed', taskId);
    this.opts.log.warn({ task: taskId, reason: job.deferredFailure }, 'BullMQ handed out a ticket that stalled too often; the task failed');
  }
}
