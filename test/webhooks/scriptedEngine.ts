/** The synthetic engine, except that a prompt containing "PLEASE FAIL" fails for good (for failed-task webhooks). */
import { SyntheticEngine } from '../../src/engines/synthetic/engine.js';
import { EngineError } from '../../src/errors.js';
import type { EngineContext, Job, RawImage } from '../../src/interfaces.js';

export const FAIL_PROMPT = 'PLEASE FAIL';

export class ScriptedEngine extends SyntheticEngine {
  constructor() {
    super({ stepMs: 0 });
  }

  override async run(job: Job, ctx: EngineContext): Promise<RawImage[]> {
    if (job.prompt.includes(FAIL_PROMPT)) throw new EngineError('out_of_memory', 'The GPU ran out of memory (scripted by the test).', false);
    return super.run(job, ctx);
  }
}
