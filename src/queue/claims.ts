import type { Claim, TaskRecord } from '../interfaces.js';

type Reason = 'cancel' | 'lost_claim';

interface Held {
  token: string;
  controller: AbortController;
  reason: Reason | undefined;
}

/**
 * The claims this process holds, so that a cancel (heard from anywhere: the local store, a
 * cross-node event, the cancel flag returned by a fenced write) or a lost lease reaches the
 * running engine through the claim's AbortSignal. Bounded by the tasks running here.
 */
export class HeldClaims {
  private readonly held = new Map<string, Held>();

  open(task: TaskRecord, token: string): Claim {
    const entry: Held = { token, controller: new AbortController(), reason: undefined };
    this.held.set(task.id, entry);
    const claim: Claim = { task, token, signal: entry.controller.signal, abortReason: () => entry.reason };
    if (task.cancelRequested) this.abort(task.id, 'cancel');
    return claim;
  }

  /** Fires the signal of the claim on taskId held here, if any. The first reason wins. */
  abort(taskId: string, reason: Reason, token?: string): void {
    const entry = this.held.get(taskId);
    if (!entry || (token !== undefined && entry.token !== token)) return;
    entry.reason ??= reason;
    entry.controller.abort();
  }

  /** The claim ended (final write, hand-back, or lost): forget it. */
  forget(claim: Claim, lost = false): void {
    const entry = this.held.get(claim.task.id);
    if (!entry || entry.token !== claim.token) return;
    if (lost) this.abort(claim.task.id, 'lost_claim');
    this.held.delete(claim.task.id);
  }
}
