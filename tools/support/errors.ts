/** Errors of the measurement tools (tools/measure.ts prints them without a stack). */

/** A wrong command line: exit status 2. */
export class ToolUsageError extends Error {
  override readonly name = 'ToolUsageError';
}

/** A measurement that could not be made (a server did not start, gcc is missing): exit status 1. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}
