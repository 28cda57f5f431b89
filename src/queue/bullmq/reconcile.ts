import type { PgHousekeeping } from '../postgres/housekeeping.js';
import type { Tickets } from './tickets.js';

/**
 * Re-adds tickets for queued tasks that have none (Redis was flushed or restarted without
 * its data, or a ticket add failed after the row committed). Walks every queued row in seq
 * order, in batches, so the oldest tasks get their tickets first. Returns how many it re-added.
 */
export async function reconcileTickets(rows: PgHousekeeping, tickets: Tickets, batch = 500): Promise<number> {
  let added = 0;
  for (let after = 0; ;) {
    const page = await rows.queuedIds(after, batch);
    if (!page.length) return added;
    added += (await tickets.ensure(page.map((r) => r.id))).length;
    after = page[page.length - 1].seq;
    if (page.length < batch) return added;
  }
}
