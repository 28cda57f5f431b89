import type { Config } from '../config.js';
import type { Engine } from '../interfaces.js';
import type { Logger } from '../log.js';
import { SyntheticEngine } from './synthetic/engine.js';

/**
 * Picks the engine named by ZIMAGE_ENGINE. `auto` prefers the real model and falls
 * back to the synthetic test patterns, saying so loudly (log and /health).
 */
export async function createEngine(config: Config, log: Logger): Promise<Engine> {
  if (config.engine === 'synthetic') return new SyntheticEngine({ stepMs: config.syntheticStepMs });
  // The diffusers engine plugs in here (issue 3).
  if (config.engine === 'diffusers') throw new Error('the diffusers engine is not built yet');
  log.warn(
    { engine: 'synthetic' },
    'ZIMAGE_ENGINE=auto: the diffusers engine cannot run here, so this server uses the SYNTHETIC engine: ' +
      'its images are labelled test patterns, not model output. Run "npm run setup:gpu" on a GPU machine for real images.',
  );
  return new SyntheticEngine({ stepMs: config.syntheticStepMs, fallback: true });
}
