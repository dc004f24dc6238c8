/**
 * Manifest of the example chain source → relay1 → relay2 → sink, used by the
 * integration test, the demo and the benchmark. `results` is the sink's
 * shared result block (sink.ts SINK_RESULT).
 */
import { fileURLToPath } from 'node:url';
import { SINK_RESULT_WORDS } from './sink.js';

export interface ChainOptions {
  readonly count: number;
  readonly ratePerMs?: number;
  readonly placement?: 'isolated' | 'monolithic';
  readonly transport?: 'ring' | 'port';
  readonly usePool?: boolean;
  readonly capacity?: number;
  readonly polling?: Record<string, unknown>;
  readonly supervisor?: Record<string, unknown>;
  /** worker resourceLimits for relay1 (OOM tests). */
  readonly relay1Limits?: Record<string, number>;
  /** relay1's successor starts only after its dead thread exited (manifest restartAfterExit). */
  readonly relay1RestartAfterExit?: boolean;
  /** relay1 has a warm standby (manifest standby). */
  readonly relay1Standby?: boolean;
  /** relay1's options (relay.ts: spinMsPerMessage, buildSpinMsFromGeneration). */
  readonly relay1Options?: Record<string, unknown>;
}

export function exampleModule(name: 'source' | 'relay' | 'sink'): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

export function createSinkResults(): SharedArrayBuffer {
  return new SharedArrayBuffer(SINK_RESULT_WORDS * 4);
}

export function chainManifest(o: ChainOptions, results: SharedArrayBuffer): Record<string, unknown> {
  const transport = o.transport ?? 'ring';
  const capacity = o.capacity ?? 1024;
  return {
    servers: [
      { name: 'source', module: exampleModule('source'), options: { count: o.count, ratePerMs: o.ratePerMs ?? 0, ...(o.usePool ? { pool: 'frames' } : {}) } },
      {
        name: 'relay1', module: exampleModule('relay'), ...(o.relay1Options ? { options: o.relay1Options } : {}), ...(o.relay1Limits ? { resourceLimits: o.relay1Limits } : {}),
        ...(o.relay1RestartAfterExit ? { restartAfterExit: true } : {}),
        ...(o.relay1Standby ? { standby: true } : {}),
      },
      { name: 'relay2', module: exampleModule('relay') },
      { name: 'sink', module: exampleModule('sink'), options: { results } },
    ],
    channels: [
      { from: 'source.out', to: 'relay1.in', capacity, transport },
      { from: 'relay1.out', to: 'relay2.in', capacity, transport },
      { from: 'relay2.out', to: 'sink.in', capacity, transport },
    ],
    pools: o.usePool ? [{ name: 'frames', owner: 'source', size: 'frame', count: 4 * capacity }] : [],
    placement: { mode: o.placement ?? 'isolated' },
    ...(o.polling ? { polling: o.polling } : {}),
    ...(o.supervisor ? { supervisor: o.supervisor } : {}),
  };
}
