import type { ErrorCode } from '../errors.js';

/** Typed commands of the line protocol `<command>|<package>|<dependencies>\n`. */
export const Verb = { INDEX: 'INDEX', REMOVE: 'REMOVE', QUERY: 'QUERY' } as const;
export type Verb = (typeof Verb)[keyof typeof Verb];

export type IndexCommand = {
  readonly verb: typeof Verb.INDEX;
  readonly name: string;
  readonly deps: readonly string[];
};
export type RemoveCommand = { readonly verb: typeof Verb.REMOVE; readonly name: string };
export type QueryCommand = { readonly verb: typeof Verb.QUERY; readonly name: string };
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
