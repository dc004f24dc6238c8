/**
 * Registry of message types. A type is a u16 in word 0 of every message.
 *
 * Each server family owns a block of 256 types and defines its own constants
 * in its own folder (e.g. `src/ip/messages.ts` exports `IP_MSG = { FRAME_IN:
 * 0x0200, ... }`), citing its block here. Never reuse a number; never put a
 * type in someone else's block. Add a block by adding a line below.
 *
 * | block            | owner                                                |
 * | ---------------- | ---------------------------------------------------- |
 * | 0x0000 - 0x00ff  | substrate (this file): control, buffers, restart      |
 * | 0x0100 - 0x01ff  | NIC driver                                           |
 * | 0x0200 - 0x02ff  | IP (ARP, ICMP, routing)                              |
 * | 0x0300 - 0x03ff  | PF (packet filter)                                   |
 * | 0x0400 - 0x04ff  | TCP                                                  |
 * | 0x0500 - 0x05ff  | UDP                                                  |
 * | 0x0600 - 0x06ff  | SOCK                                                 |
 * | 0x0700 - 0x07ff  | monitor                                              |
 * | 0x0f00 - 0x0fff  | examples and tests (relay chain, benchmarks)         |
 */
export const MSG_BLOCK = {
  SUBSTRATE: 0x0000,
  DRIVER: 0x0100,
  IP: 0x0200,
  PF: 0x0300,
  TCP: 0x0400,
  UDP: 0x0500,
  SOCK: 0x0600,
  MONITOR: 0x0700,
  EXAMPLE: 0x0f00,
} as const;

/** Substrate-level types, usable on any channel. */
export const SUBSTRATE_MSG = {
  /** Never a valid message (a zeroed slot). */
  INVALID: 0x0000,
  /** Give a buffer back to its owner: pointer fields name it. */
  BUFFER_RETURN: 0x0001,
  /** Acknowledge everything up to args[0] (cumulative seq) on this channel. */
  ACK: 0x0002,
  /** Ask the peer to re-send from seq args[0] (after a restart). */
  RESEND_FROM: 0x0003,
} as const;

/** Example types used by the relay chain (tests, demo, benchmark). */
export const EXAMPLE_MSG = {
  /** Data item: seq = end-to-end sequence number, args[0] = payload checksum word. */
  DATA: 0x0f01,
  /** Benchmark ping. */
  PING: 0x0f02,
  /** Benchmark pong. */
  PONG: 0x0f03,
} as const;
