import type { Scenario } from '../lib/scenario.ts';
import { apiMix } from './api-mix.ts';
import { chaos } from './chaos.ts';
import { directStorm } from './direct-storm.ts';
import { uploadStorm } from './upload-storm.ts';

export const scenarios: Record<string, Scenario> = Object.fromEntries([apiMix, uploadStorm, directStorm, chaos].map((s) => [s.name, s]));
