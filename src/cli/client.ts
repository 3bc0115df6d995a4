import { createInterface } from 'node:readline';
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PkgIndexClient } from '../client/client.js';
import { Fifo } from '../client/fifo.js';
import { OPTIONS } from '../config/options.js';
import { createError, isOperationalError, meaningOf } from '../errors.js';
import { isProtocolError, ProtocolErrorCode, Verb, type Command } from '../protocol/command.js';
import { formatCommand, parseLine } from '../protocol/parse.js';
import { Reply, REPLY_NAMES } from '../protocol/reply.js';
import { readLines } from '../import/read-lines.js';
import { ReconnectingConnection } from './reconnecting.js';

export const CLIENT_HELP = `Usage: pkgindex client [options] [command]

Sends commands to a pkgindex server.

  pkgindex client index NAME [DEP ...]   index NAME with these dependencies
  pkgindex client query NAME             is NAME indexed?
  pkgindex client remove NAME            remove NAME unless something depends on it
  pkgindex client                        interactive prompt on a terminal; with stdin
                                         a pipe, sends each raw protocol line read
                                         (INDEX|name|dep1,dep2) and prints each reply

Prints the reply (OK, FAIL or ERROR). Exit status: 0 OK, 1 FAIL, 2 ERROR or no
connection (the reason on stderr). For piped lines: the worst reply of all. At the
prompt: 0, or 2 if a command could not reach the server or lost its reply; a
connection the server closed (idle, restart) is reopened on the next command.

Options:
  --host HOST          server address (default 127.0.0.1)
  --port PORT          server port (default $PKGINDEX_PORT, else ${OPTIONS.port.default})
  --timeout-ms MS      give up when the server is silent this long (default 10000)
  -i, --interactive    the prompt even when stdin is not a terminal
  --help               print this help
`;

/** Flags shared by `client` and `import` to reach a server. */
export const CONNECTION_FLAGS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'timeout-ms': { type: 'string' },
} as const;

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
}

export function serverAddress(values: {
  host?: string;
  port?: string;
  'timeout-ms'?: string;
}): ServerAddress {
  const envPort = process.env.PKGINDEX_PORT;
  const port =
    values.port !== undefined
      ? OPTIONS.port.parse(values.port, '--port')
      : envPort !== undefined && envPort !== ''
        ? OPTIONS.port.parse(envPort, 'PKGINDEX_PORT')
        : OPTIONS.port.default;
  if (port === 0)
    throw createError('E_USAGE', '--port 0 cannot be connected to; give the port the server listens on');
  const timeoutMs = values['timeout-ms'] === undefined ? 10_000 : Number(values['timeout-ms']);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0)
    throw createError(
      'E_USAGE',
      `--timeout-ms must be a whole number of milliseconds, got "${values['timeout-ms']!}"`,
    );
  return { host: values.host ?? '127.0.0.1', port, timeoutMs };
}

export function connectTo(address: ServerAddress, window?: number): Promise<PkgIndexClient> {
  return PkgIndexClient.connect({
    host: address.host,
    port: address.port,
    connectTimeoutMs: address.timeoutMs || undefined,
    replyTimeoutMs: address.timeoutMs,
    window,
  });
}

/** Why the server would answer ERROR to `line`, or null when it is well-formed. */
export function malformedReason(line: string): string | null {
  // Checked first: latin1 encoding below would turn other characters into unrelated bytes.
  if (/[^\x20-\x7e]/.test(line)) return meaningOf(ProtocolErrorCode.INVALID_NAME);
  const result = parseLine(Buffer.from(line, 'latin1'), 0, line.length);
  return isProtocolError(result) ? meaningOf(result.error) : null;
}

/** ERROR to a line that parses here: the server could not process it rather than not understand it. */
const SERVER_ERROR =
  'the server answered ERROR to a well-formed line: it is longer than the server accepts ' +
  '(--max-line-bytes) or the server cannot store changes now; see its log';

const WHY_FAIL: Readonly<Record<Verb, string>> = {
  [Verb.INDEX]: 'a dependency is not indexed, or the new dependencies would make a cycle',
  [Verb.REMOVE]: 'other indexed packages depend on it',
  [Verb.QUERY]: 'not indexed',
};

/** The exit status for a reply: what scripts branch on. */
const EXIT_STATUS: Readonly<Record<Reply, number>> = { [Reply.OK]: 0, [Reply.FAIL]: 1, [Reply.ERROR]: 2 };

const VERBS: Readonly<Record<string, Verb>> = { index: Verb.INDEX, query: Verb.QUERY, remove: Verb.REMOVE };

/** `index a b c,d` → INDEX a with deps b, c, d. Null when the words are not a command. */
function commandFromWords(words: readonly string[]): Command | null {
  const [verbWord, name, ...rest] = words;
  const verb = verbWord === undefined ? undefined : VERBS[verbWord.toLowerCase()];
  if (verb === undefined || name === undefined) return null;
  if (verb === Verb.INDEX)
    return { verb, name, deps: rest.flatMap((w) => w.split(',')).filter((d) => d !== '') };
  if (rest.length > 0) return null;
  return { verb, name };
}

/** Runs a node:util parseArgs call, turning its errors (unknown flag, missing value) into usage errors. */
export function usageErrors<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
      throw createError('E_USAGE', `${err.message}; see --help`);
    throw err;
  }
}

/** `pkgindex client`: one command, raw lines from a pipe, or an interactive prompt. */
export async function client(argv: readonly string[]): Promise<number> {
  const { values, positionals } = usageErrors(() =>
    parseArgs({
      args: [...argv],
      options: {
        ...CONNECTION_FLAGS,
        interactive: { type: 'boolean', short: 'i' },
        help: { type: 'boolean' },
      },
      allowPositionals: true,
    }),
  );
  if (values.help === true) {
    process.stdout.write(CLIENT_HELP);
    return 0;
  }
  const address = serverAddress(values);
  if (positionals.length > 0) return oneShot(address, positionals);
  if (values.interactive === true || process.stdin.isTTY) return interactive(address);
  return piped(address);
}

async function oneShot(address: ServerAddress, words: readonly string[]): Promise<number> {
  const command = commandFromWords(words);
  if (command === null)
    throw createError(
      'E_USAGE',
      `"${words.join(' ')}" is not a command; try: index NAME [DEP ...], query NAME, remove NAME`,
    );
  const line = formatCommand(command).slice(0, -1);
  const why = malformedReason(line);
  if (why !== null) {
    process.stdout.write('ERROR\n');
    process.stderr.write(`pkgindex: not sent: ${why}\n`);
    return 2;
  }
  const connection = await connectTo(address);
  try {
    const reply = await connection.sendLine(line);
    process.stdout.write(`${REPLY_NAMES[reply]}\n`);
    if (reply === Reply.ERROR) process.stderr.write(`pkgindex: ${SERVER_ERROR}\n`);
    return EXIT_STATUS[reply];
  } finally {
    await connection.close();
  }
}

/** Sends each line of stdin as is, pipelined; prints the replies in order. */
async function piped(address: ServerAddress): Promise<number> {
  const connection = await connectTo(address);
  let worst: Reply = Reply.OK;
  const inFlight = new Fifo<Promise<Reply>>();
  const flushOldest = async (): Promise<void> => {
    const reply = await inFlight.shift()!;
    if (EXIT_STATUS[reply] > EXIT_STATUS[worst]) worst = reply;
    process.stdout.write(`${REPLY_NAMES[reply]}\n`);
  };
  try {
    for await (const line of readLines(['-'])) {
      const reply = connection.sendLine(line);
      // Awaited in order below; this only keeps an early failure from counting as unhandled.
      reply.catch(() => undefined);
      inFlight.push(reply);
      if (inFlight.length >= 1024) await flushOldest();
    }
    while (inFlight.length > 0) await flushOldest();
  } finally {
    connection.destroy();
  }
  return EXIT_STATUS[worst];
}

function historyFile(): string {
  return process.env.PKGINDEX_HISTORY ?? join(homedir(), '.pkgindex_history');
}

function loadHistory(): string[] {
  try {
    return readFileSync(historyFile(), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .reverse();
  } catch {
    return [];
  }
}

const INTERACTIVE_HELP = `Commands: index NAME [DEP ...] | query NAME | remove NAME | a raw line INDEX|name|deps
          help | quit (or Ctrl-D)
`;

/**
 * The prompt. It outlives its connections (see ReconnectingConnection): a connection the server
 * closed is reported once and replaced on the next command; a command that could not reach the
 * server, or whose reply was lost, is reported and the prompt stays open. Exit status 0, or 2
 * when any command went unanswered that way.
 */
async function interactive(address: ServerAddress): Promise<number> {
  const first = await connectTo(address);
  const terminal = process.stdin.isTTY;
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    prompt: 'pkgindex> ',
    terminal,
    historySize: 1000,
    history: terminal ? loadHistory() : [],
  });
  const connection = new ReconnectingConnection(
    first,
    () => connectTo(address),
    (reason) => {
      // On a terminal the notice interrupts the prompt line: start a new one, then redraw it.
      process.stderr.write(
        `${terminal ? '\n' : ''}pkgindex: ${reason.message}; reconnecting on the next command\n`,
      );
      if (terminal) rl.prompt(true);
    },
  );
  if (terminal) process.stdout.write(`connected to ${first.address}; type help for commands\n`);
  let status = 0;
  rl.prompt();
  try {
    for await (const input of rl) {
      const text = input.trim();
      if (text === 'quit' || text === 'exit') break;
      if (text === '' || text === 'help') {
        if (text === 'help') process.stdout.write(INTERACTIVE_HELP);
        rl.prompt();
        continue;
      }
      const command = text.includes('|') ? null : commandFromWords(text.split(/\s+/));
      if (command === null && !text.includes('|')) {
        process.stdout.write(`not a command: ${text}\n${INTERACTIVE_HELP}`);
        rl.prompt();
        continue;
      }
      const line = command === null ? text : formatCommand(command).slice(0, -1);
      let reply: Reply;
      try {
        reply = await connection.sendLine(line);
      } catch (err) {
        if (!isOperationalError(err)) throw err;
        const notSent = err.code === 'E_CONNECT' ? 'not sent: ' : '';
        process.stderr.write(`pkgindex: ${notSent}${err.message} [${err.code}]\n`);
        status = 2;
        rl.prompt();
        continue;
      }
      const verb = command?.verb ?? parsedVerb(line);
      const why =
        reply === Reply.ERROR
          ? (malformedReason(line) ?? SERVER_ERROR)
          : reply === Reply.FAIL && verb !== null
            ? WHY_FAIL[verb]
            : null;
      process.stdout.write(why === null ? `${REPLY_NAMES[reply]}\n` : `${REPLY_NAMES[reply]} (${why})\n`);
      rl.prompt();
    }
  } finally {
    if (terminal) saveHistory(rl);
    rl.close();
    connection.destroy();
  }
  return status;
}

function parsedVerb(line: string): Verb | null {
  const result = parseLine(Buffer.from(line, 'latin1'), 0, Buffer.byteLength(line, 'latin1'));
  return isProtocolError(result) ? null : result.verb;
}

function saveHistory(rl: ReturnType<typeof createInterface>): void {
  // `history` is public on readline.Interface since Node 15, newest first.
  const lines = (rl as unknown as { history: string[] }).history.slice(0, 1000).reverse();
  try {
    writeFileSync(historyFile(), `${lines.join('\n')}\n`);
  } catch {
    // History is a convenience: an unwritable home must not turn a good session into an error.
  }
}
