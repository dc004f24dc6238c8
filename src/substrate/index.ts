/**
 * Public API of the multiserver substrate. Server authors need server.ts
 * (the contract), channel.ts (endpoints), message.ts + message-types.ts
 * (layout, type registry), pool.ts (buffers) and restart-protocol.ts; system
 * builders need supervisor.ts + manifest.ts.
 */
export { createRing, ringBytes, RingReader, RingWriter, ringOccupancy, ringCounters } from './ring.js';
export { Outbox } from './outbox.js';
export { DebugEvery } from './debug-log.js';
export { MessageView, encodeMessage, decodeMessage, MSG_WORDS, MSG_BYTES, MSG_ARGS, NO_POOL } from './message.js';
export type { MessageRepr, RichPointer } from './message.js';
export { MSG_BLOCK, SUBSTRATE_MSG, EXAMPLE_MSG } from './message-types.js';
export { createDoorbell, DoorbellRinger, DoorbellSleeper, waitAsync } from './doorbell.js';
export type { ParkResult } from './doorbell.js';
export { createPool, PacketPool, PoolDirectory, PoolGeometry, reclaimHeldBy, poolCensus } from './pool.js';
export type { PoolSpec } from './pool.js';
export type { InChannel, OutChannel } from './channel.js';
export type { ServerContext, ServerCore, ServerFactory } from './server.js';
export type { DataStore } from './data-store.js';
export { ControlBlock, monotonicMs } from './stats.js';
export type { ServerCounters } from './stats.js';
export { AdaptivePolling, ServerLoop, DEFAULT_POLLING } from './server-loop.js';
export type { PollingMode, PollingOptions, FaultKind } from './server-loop.js';
export { SeqDedup, OutstandingRequests, seqBefore } from './restart-protocol.js';
export type { DedupVerdict, Outstanding } from './restart-protocol.js';
export { validateManifest, formatIssues, DEFAULT_RESTART, DEFAULT_SUPERVISOR } from './manifest.js';
export type { Manifest, ManifestIssue, ManifestResult, ServerSpec, ChannelSpec, PoolManifestSpec, RestartPolicy, SupervisorOptions, ResourceLimits } from './manifest.js';
export { Supervisor, manifestError } from './supervisor.js';
export type {
  SupervisorEvent, SupervisorEventType, Recovery, SystemSnapshot, ServerSnapshot, ChannelStats, PoolSnapshot, SupervisorStartOptions,
} from './supervisor.js';
