import { createInterface } from 'node:readline';
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { option } from '../config/command-line.js';
import { flagBool, text } from '../config/parsers.js';
import { createError, isOperationalError, meaningOf } from '../errors.js';
import { isProtocolError, ProtocolErrorCode, Verb, type Command } from '../protocol/command.js';
import { formatCommand, parseLine } from '../protocol/parse.js';
import { Reply, REPLY_NAMES } from '../protocol/reply.js';
import { readLines } from '../import/read-lines.js';
import { defineCommand } from './command.js';
import { ResendingConnection, mayChangeIndex, type ResendingOptions } from '../client/resending.js';
import {
  CONNECTION_OPTIONS,
  clientTls,
  connectTo,
  RETRY_BASE_DELAY_MS,
  RETRY_OPTIONS,
  type ServerAddress,
} from './connection.js';
import { ADMIN_OPTIONS } from './admin-connection.js';
import { failReason, type Explainer } from './fail-reason.js';

/** The commands in words, as typed after `pkgindex client` or at the prompt. */
const VERBS = {
  index: { verb: Verb.INDEX, args: 'NAME [DEP ...]', help: 'index NAME with these dependencies' },
  query: { verb: Verb.QUERY, args: 'NAME', help: 'is NAME indexed?' },
  remove: { verb: Verb.REMOVE, args: 'NAME', help: 'remove NAME unless something depends on it' },
} as const;

type VerbWord = keyof typeof VERBS;

const VERB_WORDS = Object.keys(VERBS) as VerbWord[];

/** `index NAME [DEP ...]`, ...: the usage of each command. */
const FORMS = VERB_WORDS.map((word) => `${word} ${VERBS[word].args}`);

const DESCRIPTION = `Sends commands to a pkgindex server.

${VERB_WORDS.map((word, i) => `  ${`pkgindex client ${FORMS[i]!}`.padEnd(39)}${VERBS[word].help}`).join('\n')}
  pkgindex client                        interactive prompt on a terminal; with stdin
                                         a pipe, sends each raw protocol line read
                                         (INDEX|name|dep1,dep2) and prints each reply`;

const EPILOGUE = `Prints the reply (OK, FAIL or ERROR). Exit status: 0 OK, 1 FAIL, 2 ERROR or no
connection (the reason on stderr). For piped lines: the worst reply of all. At the
prompt: 0, or 2 if a command could not reach the server or lost its reply; a
connection the server closed (idle, restart) is reopened on the next command.
A lost connection is retried (--retries, backoff with jitter) and the lines whose
replies were lost are sent again (each command is idempotent in effect); with
retries on, piped INDEX and REMOVE lines wait for the replies before them.
At the prompt, Ctrl-C abandons the line being typed; Ctrl-D or quit exits. After a
FAIL, the prompt asks the server's query API (--admin-host, --admin-port) why: which
dependency is missing, which package holds the one not removed.`;

/** `pkgindex client`: one command, raw lines from a pipe, or an interactive prompt. */
export const command = defineCommand({
  description: DESCRIPTION,
  options: {
    ...CONNECTION_OPTIONS,
    ...RETRY_OPTIONS,
    ...ADMIN_OPTIONS,
    interactive: option({
      flag: '--interactive',
      short: '-i',
      default: false,
      help: 'The prompt even when stdin is not a terminal.',
      parse: flagBool,
    }),
    history: option<string | null>({
      flag: '--history',
      env: 'PKGINDEX_HISTORY',
      value: 'FILE',
      default: null,
      defaultText: '~/.pkgindex_history',
      help: 'Where the prompt keeps its history (on a terminal).',
      parse: text,
    }),
  },
  positionals: [
    {
      name: 'COMMAND',
      optional: true,
      variadic: true,
      help: `${FORMS.join(', ')}; a name starting with - goes after --.`,
    },
  ],
  epilogue: EPILOGUE,
  run: async (values, words) => {
    if (words.length > 0) return oneShot(values, words);
    if (values.interactive || process.stdin.isTTY)
      return interactive(values, values.history, failReason(values));
    return piped(values);
  },
});

type ClientValues = ServerAddress & { readonly retries: number; readonly retryMaxDelayMs: number };

/**
 * The connection of every mode: reconnects after a lost connection with backoff and jitter
 * (--retries, --retry-max-delay-ms), resending what was unanswered (see ResendingConnection
 * for why that is safe), and says so on stderr.
 */
function resendingConnection(
  values: ClientValues,
  more: Pick<ResendingOptions, 'onDropped'> = {},
): ResendingConnection {
  const { retries } = values;
  // The TLS files are checked now, not at the first connect: a bad --ca is a usage error.
  clientTls(values);
  return new ResendingConnection({
    connect: () => connectTo(values),
    retries,
    backoff: { baseMs: RETRY_BASE_DELAY_MS, maxMs: values.retryMaxDelayMs },
    // Without retries nothing is sent again, so a pipe may pipeline its mutations too.
    mutationBarrier: retries > 0,
    onRetry: (attempt, delayMs, cause, resending) => {
      const then =
        resending === 0
          ? ''
          : resending === 1
            ? ', then resending the line whose reply was lost'
            : `, then resending the ${resending} lines whose replies were lost`;
      process.stderr.write(
        `pkgindex: ${cause.message}; reconnecting in ${delayMs} ms (attempt ${attempt} of ${retries})${then}\n`,
      );
    },
    onReconnected: (address) => {
      process.stderr.write(`pkgindex: reconnected to ${address}\n`);
    },
    ...(more.onDropped === undefined ? {} : { onDropped: more.onDropped }),
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

/** `index a b c,d` → INDEX a with deps b, c, d; or what is wrong, with the forms that would do. */
function commandFromWords(
  words: readonly string[],
): { command: Command } | { problem: string; usage: readonly string[] } {
  const [verbWord = '', name, ...rest] = words;
  const word = verbWord.toLowerCase();
  if (!Object.hasOwn(VERBS, word)) return { problem: `"${words.join(' ')}" is not a command`, usage: FORMS };
  const { verb, args } = VERBS[word as VerbWord];
  const usage = [`${word} ${args}`];
  if (name === undefined) return { problem: `${word} needs NAME`, usage };
  if (verb === Verb.INDEX)
    return { command: { verb, name, deps: rest.flatMap((w) => w.split(',')).filter((d) => d !== '') } };
  if (rest.length > 0)
    return { problem: `${word} takes one NAME, got ${rest.length + 1}: ${[name, ...rest].join(' ')}`, usage };
  return { command: { verb, name } };
}

async function oneShot(address: ClientValues, words: readonly string[]): Promise<number> {
  const parsed = commandFromWords(words);
  if ('problem' in parsed)
    throw createError(
      'E_USAGE',
      `${parsed.problem}; usage: ${parsed.usage.map((form) => `pkgindex client [options] ${form}`).join(' | ')}`,
    );
  const { command } = parsed;
  const line = formatCommand(command).slice(0, -1);
  const why = malformedReason(line);
  if (why !== null) {
    process.stdout.write('ERROR\n');
    process.stderr.write(`pkgindex: not sent: ${why}\n`);
    return 2;
  }
  const connection = resendingConnection(address);
  try {
    const reply = await connection.sendLine(line);
    process.stdout.write(`${REPLY_NAMES[reply]}\n`);
    if (reply === Reply.ERROR) process.stderr.write(`pkgindex: ${SERVER_ERROR}\n`);
    return EXIT_STATUS[reply];
  } finally {
    await connection.close();
  }
}

/**
 * Sends each line of stdin as is, pipelined; prints the replies in order. With retries on, an
 * INDEX or REMOVE waits for every earlier reply (QUERY lines do not), so that what a lost
 * connection leaves unanswered can be sent again (ResendingConnection).
 */
async function piped(address: ClientValues): Promise<number> {
  const connection = resendingConnection(address);
  const barrier = address.retries > 0;
  let worst: Reply = Reply.OK;
  // Replies are printed as they arrive (a script may wait for one before writing its next line),
  // by `printing`, while the loop below reads and sends; each wakes the other.
  // (Typed with `as`: assigned in callbacks, which type narrowing does not see.)
  let inputDone = false as boolean;
  let failure = null as { error: unknown } | null;
  let wakePrinter = null as (() => void) | null;
  let wakeReader = null as (() => void) | null;
  const wake = (which: 'printer' | 'reader'): void => {
    const waker = which === 'printer' ? wakePrinter : wakeReader;
    if (which === 'printer') wakePrinter = null;
    else wakeReader = null;
    waker?.();
  };
  // Connected before reading: an unreachable server is reported at once, not at the first line.
  await connection.open();
  const printing = (async () => {
    while (!(inputDone && connection.pending === 0)) {
      if (connection.pending === 0) {
        await new Promise<void>((resolve) => (wakePrinter = resolve));
        continue;
      }
      const reply = await connection.next();
      if (EXIT_STATUS[reply] > EXIT_STATUS[worst]) worst = reply;
      process.stdout.write(`${REPLY_NAMES[reply]}\n`);
      wake('reader');
    }
  })().catch((error: unknown) => {
    failure = { error };
    wake('reader');
    // A lost reply ends the run now, not when the writer of the pipe is done.
    process.stdin.destroy();
  });
  try {
    for await (const line of readLines(['-'])) {
      while (
        failure === null &&
        (connection.pending >= 1024 || (barrier && connection.pending > 0 && mayChangeIndex(line)))
      )
        await new Promise<void>((resolve) => (wakeReader = resolve));
      if (failure !== null) break;
      if (!connection.sendNow(line)) await connection.send(line);
      wake('printer');
    }
  } catch (err) {
    // stdin destroyed above: the failure speaks for it.
    if (failure === null) throw err;
  } finally {
    inputDone = true;
    wake('printer');
    // On a failure here (no connection for a line), the printer stops at the first unanswered one.
    if (failure === null) await printing;
    connection.destroy();
    await printing;
  }
  if (failure !== null) throw failure.error;
  return EXIT_STATUS[worst];
}

function loadHistory(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .reverse();
  } catch {
    return [];
  }
}

const INTERACTIVE_HELP = `Commands: ${FORMS.join(' | ')} | a raw line INDEX|name|deps
          help | quit (or Ctrl-D); Ctrl-C abandons the line being typed
`;

/**
 * The prompt. It outlives its connections (see ReconnectingConnection): a connection the server
 * closed is reported once and replaced on the next command; a command that could not reach the
 * server, or whose reply was lost, is reported and the prompt stays open. Exit status 0, or 2
 * when any command went unanswered that way.
 */
async function interactive(
  address: ClientValues,
  history: string | null,
  explain: Explainer,
): Promise<number> {
  const terminal = process.stdin.isTTY;
  const historyFile = history ?? join(homedir(), '.pkgindex_history');
  const connection = resendingConnection(address, {
    onDropped: (reason) => {
      // On a terminal the notice interrupts the prompt line: start a new one, then redraw it.
      process.stderr.write(
        `${terminal ? '\n' : ''}pkgindex: ${reason.message}; reconnecting on the next command\n`,
      );
      if (terminal) rl.prompt(true);
    },
  });
  // Connected before the prompt: an unreachable server is reported at once.
  const where = await connection.open();
  const rl = createInterface({
    input: process.stdin,
    output: process.stdout,
    prompt: 'pkgindex> ',
    terminal,
    historySize: 1000,
    history: terminal ? loadHistory(historyFile) : [],
  });
  if (terminal) process.stdout.write(`connected to ${where}; type help for commands\n`);
  let status = 0;
  let awaitingReply = false;
  // As in shells: Ctrl-C abandons the line being typed, never the session (readline would close).
  rl.on('SIGINT', () => {
    if (awaitingReply) return;
    if (rl.line === '') {
      process.stdout.write('^C\n(to exit, press Ctrl-D or type quit)\n');
      rl.prompt();
      return;
    }
    rl.write(null, { ctrl: true, name: 'e' });
    process.stdout.write('^C\n');
    // Ctrl-U: deletes the line left of the cursor (now all of it) and draws a fresh prompt.
    rl.write(null, { ctrl: true, name: 'u' });
  });
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
      const parsed = text.includes('|') ? null : commandFromWords(text.split(/\s+/));
      if (parsed !== null && 'problem' in parsed) {
        // An unknown word gets every command; a known one with the wrong words, its own usage.
        process.stdout.write(
          parsed.usage === FORMS
            ? `not a command: ${text}\n${INTERACTIVE_HELP}`
            : `${parsed.problem}; usage: ${parsed.usage.join(' | ')}\n`,
        );
        rl.prompt();
        continue;
      }
      const command = parsed?.command ?? null;
      const line = command === null ? text : formatCommand(command).slice(0, -1);
      let reply: Reply;
      try {
        awaitingReply = true;
        reply = await connection.sendLine(line);
      } catch (err) {
        if (!isOperationalError(err)) throw err;
        const notSent = err.code === 'E_CONNECT' ? 'not sent: ' : '';
        process.stderr.write(`pkgindex: ${notSent}${err.message} [${err.code}]\n`);
        status = 2;
        rl.prompt();
        continue;
      } finally {
        awaitingReply = false;
      }
      const parsedCommand = command ?? parsedCommandOf(line);
      const why =
        reply === Reply.ERROR
          ? (malformedReason(line) ?? SERVER_ERROR)
          : reply === Reply.FAIL && parsedCommand !== null
            ? ((await explain(parsedCommand)) ?? WHY_FAIL[parsedCommand.verb])
            : null;
      process.stdout.write(why === null ? `${REPLY_NAMES[reply]}\n` : `${REPLY_NAMES[reply]} (${why})\n`);
      rl.prompt();
    }
  } finally {
    if (terminal) saveHistory(rl, historyFile);
    rl.close();
    connection.destroy();
  }
  return status;
}

function parsedCommandOf(line: string): Command | null {
  const result = parseLine(Buffer.from(line, 'latin1'), 0, Buffer.byteLength(line, 'latin1'));
  return isProtocolError(result) ? null : result;
}

function saveHistory(rl: ReturnType<typeof createInterface>, file: string): void {
  // `history` is public on readline.Interface since Node 15, newest first.
  const lines = (rl as unknown as { history: string[] }).history.slice(0, 1000).reverse();
  try {
    writeFileSync(file, `${lines.join('\n')}\n`);
  } catch {
    // History is a convenience: an unwritable home must not turn a good session into an error.
  }
}
