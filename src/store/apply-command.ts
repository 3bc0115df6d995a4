import { Verb, type Command } from '../protocol/command.js';
import { Reply } from '../protocol/reply.js';
import { DependencyGraph, IndexOutcome, RemoveOutcome } from '../graph/dependency-graph.js';

/** The reply to a command, and whether it changed the graph (and so must be logged). */
export interface Applied {
  readonly reply: Reply;
  readonly changed: boolean;
}

const OK_CHANGED: Applied = { reply: Reply.OK, changed: true };
const OK_UNCHANGED: Applied = { reply: Reply.OK, changed: false };
const FAIL: Applied = { reply: Reply.FAIL, changed: false };

/** Applies one command to the graph by the protocol's rules. Shared by every store. */
export function applyCommand(graph: DependencyGraph, command: Command): Applied {
  switch (command.verb) {
    case Verb.QUERY:
      return graph.has(command.name, command.keys?.[0]) ? OK_UNCHANGED : FAIL;
    case Verb.INDEX:
      return appliedIndex(graph.index(command.name, command.deps, command.keys));
    case Verb.REMOVE:
      switch (graph.remove(command.name, command.keys?.[0])) {
        case RemoveOutcome.REMOVED:
          return OK_CHANGED;
        case RemoveOutcome.ABSENT:
          return OK_UNCHANGED;
        case RemoveOutcome.REQUIRED:
          return FAIL;
      }
  }
}

/** The reply to an INDEX that ended with `outcome`, and whether it changed the graph. */
export function appliedIndex(outcome: IndexOutcome): Applied {
  switch (outcome) {
    case IndexOutcome.ADDED:
    case IndexOutcome.REPLACED:
      return OK_CHANGED;
    case IndexOutcome.UNCHANGED:
      return OK_UNCHANGED;
    case IndexOutcome.MISSING_DEPENDENCY:
    case IndexOutcome.CYCLE:
      return FAIL;
  }
}
