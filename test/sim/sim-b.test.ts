import { simulateShare } from './seeds.js';

simulateShare(1, 2);
