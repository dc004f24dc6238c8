/**
 * The PF server: PfCore behind a channel. IP asks "verdict for this packet?"
 * with a rich pointer into a pool; PF reads the bytes where they lie and
 * answers. It never holds a packet, so a PF crash only means IP asks again.
 * Rules come from the data store (set from the host configuration on first
 * start), so a restarted filter has the same rules at once; the flows admitted
 * with "keep state", the counters and the rule hits are in memory that outlives
 * the thread (ServerContext.shared), so its successor goes on with them.
 */
import type { InChannel } from '../substrate/channel.js';
import type { MessageView } from '../substrate/message.js';
import type { ServerContext, ServerCore } from '../substrate/server.js';
import { Direction, IP_MSG, Verdict as VerdictCode } from '../abi/protocol.js';
import { PfCore, rehearseFilter } from './pf-core.js';
import { parseRuleSet } from './rule-parser.js';
import { VerdictReply, VerdictRequest } from '../abi/message-args.js';

export interface PfServerOptions {
  /** Rule text (docs/pf-rules.md). Empty: "default allow". */
  readonly rules: string;
  /** Interface names by index, as IP numbers them. */
  readonly interfaces: readonly string[];
  /** Flows the state table holds (default DEFAULT_PF_CONFIG.maxStates); the shared memory is sized for it. */
  readonly maxStates?: number;
}

export function createServer(ctx: ServerContext): ServerCore {
  const opts = ctx.options as unknown as PfServerOptions;
  const text = (ctx.store.get('rules') as string | undefined) ?? (opts.rules.trim() === '' ? 'default allow' : opts.rules);
  ctx.store.set('rules', text);
  const parsed = parseRuleSet(text);
  if (!parsed.ok) throw new Error(`pf: invalid rules: ${parsed.errors.map((e) => `line ${e.line}: ${e.reason}`).join('; ')}`);
  // Its memory outlives the thread (the flows it admitted, its counters): a successor goes on
  // with them. Opened at the first message or poll, never here: a standby is built while its
  // predecessor still writes there.
  const core = new PfCore(parsed.value, opts.maxStates !== undefined ? { maxStates: opts.maxStates } : {}, ctx.shared);
  const toIp = ctx.outputs['ip'];
  if (toIp === undefined) throw new Error('pf server needs output "ip"');
  let now = ctx.now();

  return {
    onMessage(msg: MessageView, _from: InChannel, t: number): boolean {
      now = t;
      if (msg.type !== IP_MSG.VERDICT_REQUEST) return true;
      const out = toIp.reserve();
      if (out === null) return false;
      const packet = ctx.buffers.view(msg);
      let code: number = VerdictCode.Drop;
      const rule = 0; // rule numbers: see PfCore.hits()
      if (packet !== null) {
        const v = core.check({
          direction: msg.arg(VerdictRequest.direction) === Direction.In ? 'in' : 'out',
          ifName: opts.interfaces[msg.arg(VerdictRequest.iface)] ?? '',
          packet,
        }, now);
        // Re-check the generation after reading: an owner restart may have recycled the bytes.
        if (ctx.buffers.isCurrent(msg)) {
          code = v.action === 'allow' ? VerdictCode.Accept : v.action === 'drop' ? VerdictCode.Drop
            : v.icmpCode === 3 ? VerdictCode.RejectRst : VerdictCode.RejectIcmp;
        }
      }
      out.setPointer(0xffff, 0, 0, 0);
      VerdictReply.start(out).request(msg.arg(VerdictRequest.request)).verdict(code).rule(rule);
      toIp.commit();
      return true;
    },
    poll(t: number): void {
      now = t;
      core.open(now);
      if (core.pollAt() <= now) core.onTimer(now);
    },
    pollAt(): number {
      return core.pollAt();
    },
    rehearse(): void {
      const t0 = ctx.now();
      const verdicts = rehearseFilter(parsed.value, opts.interfaces[0] ?? '');
      ctx.log('rehearsed', { verdicts, ms: Math.round((ctx.now() - t0) * 100) / 100 });
    },
  };
}
