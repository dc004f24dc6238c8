/**
 * IPv4 routing table: longest-prefix match (RFC 1812 §5.2.4.3), ties broken by
 * the lower metric, then by insertion order. Routes are plain data so the
 * table can be rebuilt from the data store after a restart.
 *
 * A route with gateway 0 is "on link": the next hop is the destination itself.
 * The default route is simply prefix 0.0.0.0/0.
 */
import { prefixMask } from '../wire/ipv4-address.js';

export interface Route {
  readonly prefix: number;
  readonly prefixLen: number;
  /** Next-hop router, or 0 for destinations on the link. */
  readonly gateway: number;
  /** Name of the outgoing interface. */
  readonly iface: string;
  readonly metric?: number;
}

export interface RouteChoice {
  readonly route: Route;
  /** The address to resolve on the link: the gateway, or the destination when on link. */
  readonly nextHop: number;
}

export class RouteTable {
  /** Sorted by prefix length descending, then metric ascending (stable). */
  private routes: Route[] = [];

  constructor(routes: readonly Route[] = []) {
    for (const r of routes) this.add(r);
  }

  add(route: Route): void {
    const r: Route = { ...route, prefix: (route.prefix & prefixMask(route.prefixLen)) >>> 0 };
    let i = 0;
    while (i < this.routes.length && precedes(this.routes[i]!, r)) i++;
    this.routes.splice(i, 0, r);
  }

  /** Remove every route for this prefix (and gateway, when given). Returns how many went. */
  remove(prefix: number, prefixLen: number, gateway?: number): number {
    const p = (prefix & prefixMask(prefixLen)) >>> 0;
    const before = this.routes.length;
    this.routes = this.routes.filter((r) => !(r.prefix === p && r.prefixLen === prefixLen && (gateway === undefined || r.gateway === gateway)));
    return before - this.routes.length;
  }

  /** Remove every route through an interface (it went down). */
  removeInterface(iface: string): void {
    this.routes = this.routes.filter((r) => r.iface !== iface);
  }

  lookup(dst: number): RouteChoice | null {
    for (const r of this.routes) {
      if (((dst & prefixMask(r.prefixLen)) >>> 0) === r.prefix) {
        return { route: r, nextHop: r.gateway === 0 ? dst : r.gateway };
      }
    }
    return null;
  }

  list(): readonly Route[] {
    return this.routes;
  }
}

function precedes(a: Route, b: Route): boolean {
  if (a.prefixLen !== b.prefixLen) return a.prefixLen > b.prefixLen;
  return (a.metric ?? 0) <= (b.metric ?? 0);
}
