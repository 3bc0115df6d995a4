import type { StoreHealth } from '../store/store.js';

/** What readiness needs from the TCP front; IndexServer provides it. */
export interface ServingState {
  readonly listening: boolean;
  readonly draining: boolean;
}

/** What readiness needs from the store; every IndexStore provides it. */
export interface HealthReporter {
  health(): StoreHealth;
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: {
    /** The store has finished recovery. */
    readonly recovered: boolean;
    /** The store can make mutations durable. */
    readonly writable: boolean;
    /** The protocol listener is bound. */
    readonly listening: boolean;
    /** Graceful shutdown has begun. */
    readonly draining: boolean;
  };
  /** Why the server is not ready, for a human; absent when ready. */
  readonly reason?: string;
}

/**
 * Whether a load balancer should send new clients here: the store is recovered and writable,
 * the listener is bound, and shutdown has not begun. The one definition behind /readyz and
 * the `pkgindex_ready` gauge.
 */
export function readiness(server: ServingState, store: HealthReporter): Readiness {
  const health = store.health();
  const checks = {
    recovered: health.recovered,
    writable: health.writable,
    listening: server.listening,
    draining: server.draining,
  };
  const reasons: string[] = [];
  if (checks.draining) reasons.push('shutting down');
  if (!checks.recovered) reasons.push('store recovering');
  if (!checks.writable) reasons.push(`store not writable${health.detail ? `: ${health.detail}` : ''}`);
  if (!checks.listening && !checks.draining) reasons.push('protocol listener not bound');
  if (reasons.length === 0) return { ready: true, checks };
  return { ready: false, checks, reason: reasons.join('; ') };
}
