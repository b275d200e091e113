import { simulateShare } from './seeds.js';

simulateShare(0, 2);
