/**
 * The public entry of the newtos package: `import { createStack, createVswitch } from 'newtos'`.
 * Everything a user needs is exported from here; deeper paths are not part of the API.
 */
export { createStack, Stack, type StackOptions, type SwitchAttachment, type PlacementDecision } from './stack/host.js';
export { createVswitch, Vswitch } from './stack/vswitch-handle.js';
export type { VswitchOptions, VswitchImpairments, VswitchDescriptor } from './driver/nic/vswitch.js';
export {
  loadStackConfigFile, parseStackConfig, validateStackConfig, formatConfigIssues, stackConfigJsonSchema,
  type StackConfig, type InterfaceConfig, type LinkConfig, type RouteConfig, type Placement, type Endpoint, type Ipv4Prefix, type ConfigResult,
} from './config/stack-config.js';
export type { ConfigIssue } from './config/schema.js';
export { FrameLink, type FrameLinkOptions } from './app/frame-link.js';
export { NewtosError, type ErrorShape } from './errors.js';
export type { NetSocket, NetSocketOptions } from './app/net-socket.js';
export type { NetServer, ListenOptions } from './app/net-server.js';
export type { DgramSocket, DgramSocketOptions, DgramRemoteInfo, DgramAddressInfo, DgramMessage, SendCallback } from './app/dgram-socket.js';
export type { SocketAddressInfo } from './app/socket-port.js';
export type { PingOptions, PingResult } from './app/ping.js';
export type { LinkStats } from './driver/nic/link-stats.js';
export type { DriverStats } from './driver/driver-stats.js';
export type { UdpStats } from './udp/udp-stats.js';
export type { SystemSnapshot, RegroupResult } from './substrate/supervisor.js';
export type { RegroupDecision } from './stack/placement-monitor.js';
export type { CounterTree } from './abi/published-counters.js';
export type { LiveCapture, LiveCaptureOptions, CapturedFrameSink } from './driver/nic/capture-channel.js';
