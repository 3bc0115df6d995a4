import type { ErrorCode } from '../errors.js';

/** Typed commands of the line protocol `<command>|<package>|<dependencies>\n`. */
export const Verb = { INDEX: 'INDEX', REMOVE: 'REMOVE', QUERY: 'QUERY' } as const;
export type Verb = (typeof Verb)[keyof typeof Verb];

/**
 * `keys`, when a command has them: the parser's hash of each of its names (`nameHash`: the
 * name's first, then each dependency's), which the graph uses to find a package without
 * reading its name's string (see `DependencyGraph`). Only the server's parsed commands carry
 * them; absent, or of another length than `1 + deps.length`, they are not used. A wrong key
 * costs a slower lookup, never a wrong answer.
 */
export type IndexCommand = {
  readonly verb: typeof Verb.INDEX;
  readonly name: string;
  readonly deps: readonly string[];
  readonly keys?: readonly number[];
};
export type RemoveCommand = {
  readonly verb: typeof Verb.REMOVE;
  readonly name: string;
  readonly keys?: readonly number[];
};
export type QueryCommand = {
  readonly verb: typeof Verb.QUERY;
  readonly name: string;
  readonly keys?: readonly number[];
};
export type Command = IndexCommand | RemoveCommand | QueryCommand;

/**
 * A command parsed in place (see `parseInto`): one per connection, overwritten by each line,
 * so that executing a line allocates nothing. It is a valid Command until the next parse into
 * it; whoever keeps its name or dependencies past that copies them. `deps` is empty unless
 * `verb` is INDEX.
 */
export class CommandSlot {
  verb: Verb = Verb.QUERY;
  name = '';
  readonly deps: string[] = [];
  /** The names' keys (see IndexCommand): filled by the fast path, emptied by the other. */
  readonly keys: number[] = [];
}

/** Why a line was answered ERROR. Stable codes of the catalogue (errors.ts): they appear in debug logs. */
export const ProtocolErrorCode = {
  FIELD_COUNT: 'E_FIELD_COUNT',
  UNKNOWN_COMMAND: 'E_UNKNOWN_COMMAND',
  EMPTY_NAME: 'E_EMPTY_NAME',
  INVALID_NAME: 'E_INVALID_NAME',
  NAME_TOO_LONG: 'E_NAME_TOO_LONG',
  EMPTY_DEPENDENCY: 'E_EMPTY_DEPENDENCY',
  INVALID_DEPENDENCY: 'E_INVALID_DEPENDENCY',
  UNEXPECTED_DEPENDENCIES: 'E_UNEXPECTED_DEPENDENCIES',
  LINE_TOO_LONG: 'E_LINE_TOO_LONG',
} as const satisfies Readonly<Record<string, ErrorCode>>;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

export type ProtocolError = { readonly verb: null; readonly error: ProtocolErrorCode };

/** The outcome of parsing one line: a command, or the reason it is malformed. */
export type ParseResult = Command | ProtocolError;

export function isProtocolError(r: ParseResult): r is ProtocolError {
  return r.verb === null;
}

/** Longest package name, in bytes. */
export const MAX_NAME_BYTES = 255;
