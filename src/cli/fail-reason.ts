/**
 * Why the server answered FAIL, asked of its query API after the fact: which dependencies are
 * not indexed or which path would close a cycle (INDEX), which chain of packages holds the one
 * not removed (REMOVE). The answer describes the index as it is when asked, a moment after the
 * FAIL; when the API cannot be reached (no admin port, a token missing), the prompt falls back
 * to the general reason.
 */
import { adminTokenFromEnv } from '../admin/auth.js';
import { QueryClient, segment } from '../client/query-client.js';
import type { Values } from '../config/command-line.js';
import { Verb, type Command } from '../protocol/command.js';
import type { ADMIN_OPTIONS } from './admin-connection.js';
import { explain, type WhyAnswer } from './why.js';

/** Resolves with the reason for a FAIL to `command`, or null when the API cannot tell. */
export type Explainer = (command: Command) => Promise<string | null>;

/** How long the prompt waits for the explanation before printing the general reason. */
const EXPLAIN_TIMEOUT_MS = 2000;

export function failReason(values: Values<typeof ADMIN_OPTIONS>): Explainer {
  let api: QueryClient | null;
  try {
    api = new QueryClient({
      host: values.adminHost,
      port: values.adminPort,
      token: adminTokenFromEnv(process.env),
      timeoutMs: EXPLAIN_TIMEOUT_MS,
    });
  } catch {
    // A token too weak to be one: explanations are a convenience, the prompt works without.
    api = null;
  }
  return async (command) => {
    if (api === null || command.verb === Verb.QUERY) return null;
    try {
      const why = await api.get<WhyAnswer>(
        `/v1/packages/${segment(command.name)}/why`,
        command.verb === Verb.INDEX ? { deps: command.deps.length === 0 ? '' : command.deps } : {},
      );
      return explain(why);
    } catch {
      return null;
    }
  };
}
