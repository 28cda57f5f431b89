/** The store contract against the fleet backend: real PostgreSQL and Redis (BullMQ), started for this file. */
import { fleetConfig, useFleetServices } from '../helpers/fleet.js';
import { storeContract } from './contract.js';

const services = useFleetServices();

storeContract({
  name: 'postgres + bullmq (fleet)',
  // A fresh database and Redis prefix for each test.
  config: (over = {}) => fleetConfig(services.postgres, services.redis, over),
});
