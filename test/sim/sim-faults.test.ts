import { simulateShare } from './seeds.js';

// Connection drops (in-flight messages lost both ways) and crash-restarts from the durable chain.
simulateShare(0, 1, { faults: true }, 'faults');
