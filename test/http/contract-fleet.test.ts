/** The skill contract against a fleet: an API node (serve --no-worker) and a worker, on real Postgres and Redis. */
import { startFleet, useFleetServices } from '../helpers/fleet.js';
import { skillContract } from './skillContract.js';

const services = useFleetServices();

skillContract('fleet', 'postgres', async (over) => {
  const fleet = await startFleet(services.postgres, services.redis, { config: over });
  return { url: fleet.api[0].url, queue: fleet.api[0].queue, close: () => fleet.close() };
});
