/**
 * Webhook attempts by outcome, counted where the dispatcher records them: the store's
 * `record` call says what the attempt did (delivered, pending = will retry, failed for good)
 * and how long it took. Wrapping the store keeps the dispatcher unaware of metrics. Each
 * attempt is recorded by the one node that made it, so these sum across a fleet's nodes.
 */
import type { WebhookStore } from '../webhooks/store.js';
import type { ServerMetrics } from './registry.js';

/** The same store (every other method passes through untouched), counting recorded attempts. */
export function countWebhookAttempts<S extends WebhookStore>(store: S, metrics: ServerMetrics): S {
  const record: WebhookStore['record'] = async (id, leaseToken, attempt, next, now) => {
    const recorded = await store.record(id, leaseToken, attempt, next, now);
    // Not recorded: another node took the delivery over, and its attempt is the one that counts.
    if (recorded) {
      metrics.webhookAttempts.inc({ outcome: next.status === 'pending' ? 'retry' : next.status });
      metrics.webhookDuration.observe(Math.max(0, attempt.durationMs) / 1000);
    }
    return recorded;
  };
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'record') return record;
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
