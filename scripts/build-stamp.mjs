// Last step of `npm run build`: records that dist/ is current (see lib/build-state.mjs).
import { stamp } from './lib/build-state.mjs';

stamp();
