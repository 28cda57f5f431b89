import { sqliteFactory, storeContract } from './contract.js';

storeContract(sqliteFactory);
