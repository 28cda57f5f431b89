import { startTestServer } from '../helpers/server.js';
import { skillContract } from './skillContract.js';

skillContract('embedded', 'sqlite', (over) => startTestServer(over));
