/**
 * The engine line in the header and the banner that says, where it is so, that images come
 * from the synthetic test-pattern engine: from /health (open, no key needed), and from any
 * finished task marked synthetic (a fleet's worker may differ from this node).
 */
import type { ZImageClient } from '../../client/client.js';
import type { Health, Task } from '../../client/types.js';
import { byId } from './dom.js';
import { messageOf } from './notices.js';

export class EngineBanner {
  private readonly status = byId('engine-status');
  private readonly banner = byId('synthetic-banner');
  private readonly message = byId('synthetic-message');

  constructor(private readonly client: () => ZImageClient) {}

  async refresh(): Promise<void> {
    try {
      this.fromHealth(await this.client().health());
    } catch (err) {
      this.status.textContent = messageOf(err);
    }
  }

  fromTask(task: Task): void {
    if (task.synthetic) this.showSynthetic(task.notice);
  }

  private fromHealth(health: Health): void {
    const { engine, queue } = health;
    const name = engine.name ?? (health.workers.length ? health.workers.map((w) => w.engine).join(', ') : 'no engine on this node');
    const model = engine.model ? ` (${engine.model})` : '';
    this.status.textContent = `Engine: ${name}${model}, ${engine.state} · queue: ${queue.queued} waiting, ${queue.running} running`;
    if (engine.synthetic || health.workers.some((w) => w.synthetic)) this.showSynthetic(engine.synthetic ? engine.message : undefined);
  }

  private showSynthetic(detail: string | undefined): void {
    this.message.textContent = 'the images are labelled test patterns, not model output.' +
      (detail && /setup:gpu|fell back/.test(detail) ? ` ${detail}` : '');
    this.banner.hidden = false;
  }
}
