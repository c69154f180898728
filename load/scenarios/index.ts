import type { Scenario } from '../lib/scenario.ts';
import { apiMix } from './api-mix.ts';

export const scenarios: Record<string, Scenario> = Object.fromEntries([apiMix].map((s) => [s.name, s]));
