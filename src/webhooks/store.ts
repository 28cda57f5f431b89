/**
 * Webhook deliveries, kept in the same database as the tasks (SQLite embedded, Postgres in a
 * fleet), so a delivery outlives a crash or restart. One row per task with a webhook_url:
 *   waiting   — the task was submitted with a webhook_url and is not final yet (the row keeps
 *               the base URL of the submitting request, for the image links of the body)
 *   pending   — the task is final; next_attempt_at says when the next attempt is due
 *   delivered — a 2xx answer arrived;  failed — attempts ran out, or the target was refused
 * Publicly "waiting" reads as "pending" with no next_attempt_at.
 *
 * Several dispatchers (one per API node) may share the store, so an attempt is made under a
 * lease: claimDue hands each due delivery to one caller with a fresh lease token and moves
 * its next_attempt_at to the end of the lease (if that node dies mid-attempt, the delivery is
 * due again then, for anyone); record only applies under the current token.
 */
import { randomBytes } from 'node:crypto';
import type { WebhookAttempt, WebhookSummary } from '../tasks/service.js';

export type DeliveryStatus = 'waiting' | 'pending' | 'delivered' | 'failed';

export interface Delivery {
  /** Also the `webhook-id` header: one message, the same id on every retry. */
  id: string;
  taskId: string;
  url: string;
  baseUrl: string | null;
  status: DeliveryStatus;
  attempts: WebhookAttempt[];
  /** Epoch ms; null unless pending (during an attempt: when its lease runs out). */
  nextAttemptAt: number | null;
  /** The token of the latest claim; null when never claimed or after the attempt was recorded. */
  leaseToken: string | null;
}

/** A delivery handed to one dispatcher by claimDue: record its attempt with this token. */
export type ClaimedDelivery = Delivery & { leaseToken: string };

/** Where an attempt leaves the delivery. */
export interface NextStep {
  status: 'pending' | 'delivered' | 'failed';
  nextAttemptAt: number | null;
}

export interface WebhookStore {
  /** A task with a webhook was submitted: remember its link base until the task is final. */
  register(taskId: string, url: string, baseUrl: string | null, now: number): Promise<void>;
  /** The task is final: its delivery is due now. False if it was armed before (each task sends once). */
  arm(taskId: string, url: string, now: number): Promise<boolean>;
  /** Final, unexpired tasks with a webhook whose delivery was never armed (oldest first). */
  unarmed(limit: number): Promise<Array<{ taskId: string; url: string }>>;
  /**
   * Atomically takes up to `limit` pending deliveries due at `now` for this caller: each gets a
   * new lease token and next_attempt_at = now + leaseMs. A delivery leased by another caller
   * is not due again until its lease runs out.
   */
  claimDue(now: number, limit: number, leaseMs: number): Promise<ClaimedDelivery[]>;
  /**
   * Appends an attempt and moves the delivery on, atomically. Changes nothing (false) unless
   * the delivery is still pending under `leaseToken`: an attempt is recorded at most once,
   * and never by a node whose lease was taken over.
   */
  record(id: string, leaseToken: string, attempt: WebhookAttempt, next: NextStep, now: number): Promise<boolean>;
  /** The delivery as the task's `webhook` field shows it. */
  summary(taskId: string): Promise<WebhookSummary | undefined>;
  byTask(taskId: string): Promise<Delivery | undefined>;
}

export const newMessageId = (): string => `msg_${randomBytes(16).toString('hex')}`;

/** One token per claim call: the fence is (id, token), so rows claimed together may share it. */
export const newLeaseToken = (): string => `lease_${randomBytes(12).toString('hex')}`;

export function summaryOf(d: Delivery): WebhookSummary {
  return {
    url: d.url,
    status: d.status === 'waiting' ? 'pending' : d.status,
    attempts: d.attempts,
    nextAttemptAt: d.status === 'pending' ? d.nextAttemptAt : null,
  };
}

/** A webhook_deliveries row as either database driver returns it. */
export interface DeliveryRow {
  id: string;
  task_id: string;
  url: string;
  base_url: string | null;
  status: string;
  /** JSON text in SQLite, parsed JSONB in Postgres. */
  attempts: string | WebhookAttempt[];
  /** BIGINT: a string from pg's default parser, a number otherwise. */
  next_attempt_at: string | number | null;
  lease_token: string | null;
}

export const toDelivery = (row: DeliveryRow): Delivery => ({
  id: row.id,
  taskId: row.task_id,
  url: row.url,
  baseUrl: row.base_url,
  status: row.status as DeliveryStatus,
  attempts: typeof row.attempts === 'string' ? JSON.parse(row.attempts) as WebhookAttempt[] : row.attempts,
  nextAttemptAt: row.next_attempt_at === null ? null : Number(row.next_attempt_at),
  leaseToken: row.lease_token,
});
