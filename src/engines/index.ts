import type { Config } from '../config.js';
import { EngineUnavailableError } from '../errors.js';
import type { Engine } from '../interfaces.js';
import type { Logger } from '../log.js';
import { DiffusersEngine } from './diffusers/engine.js';
import { engineOptionsFromConfig } from './diffusers/options.js';
import { probeDiffusers } from './diffusers/probe.js';
import { SyntheticEngine } from './synthetic/engine.js';

/**
 * Picks the engine named by ZIMAGE_ENGINE. `auto` prefers the real model and falls
 * back to the synthetic test patterns, saying so loudly (log and /health).
 * `diffusers` probes the Python environment first, so a missing torch, diffusers or GPU
 * stops the server at once with the fix, instead of failing on the first task.
 */
export async function createEngine(config: Config, log: Logger): Promise<Engine> {
  if (config.engine === 'synthetic') return new SyntheticEngine({ stepMs: config.syntheticStepMs });
  const opts = engineOptionsFromConfig(config);
  const probe = await probeDiffusers({ python: opts.python, pythonDir: opts.pythonDir, device: opts.device, env: opts.env });
  if (probe.ok) {
    log.info({ engine: 'diffusers', python: opts.python, probe: probe.report }, 'diffusers engine available; loading the model in the background');
    return new DiffusersEngine(opts, log);
  }
  if (config.engine === 'diffusers') {
    throw new EngineUnavailableError(`ZIMAGE_ENGINE=diffusers: ${probe.message}`, probe.hint);
  }
  log.warn(
    { engine: 'synthetic', missing: probe.missing, python: opts.python },
    `ZIMAGE_ENGINE=auto: the diffusers engine cannot run here (missing ${probe.missing.join(', ')}), so this server uses the SYNTHETIC engine: ` +
      'its images are labelled test patterns, not model output. Run "npm run setup:gpu" on a GPU machine for real images.',
  );
  return new SyntheticEngine({ stepMs: config.syntheticStepMs, fallback: true });
}
