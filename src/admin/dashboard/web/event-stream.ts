// Server-sent events read with fetch, not EventSource: EventSource cannot send an
// Authorization header, and a token in the URL would land in logs and history
// (docs/adr/0016-dashboard.md). The server speaks plain text/event-stream either way.

import type { Api } from './api.js';

export interface StreamEvent {
  readonly event: string;
  readonly data: string;
}

/**
 * Splits a text/event-stream into events: blank-line separated blocks of `field: value`
 * lines; `data` lines are joined by newlines, comments and unknown fields are skipped.
 */
export class EventParser {
  #buffer = '';

  push(text: string): StreamEvent[] {
    this.#buffer += text.replace(/\r\n?/g, '\n');
    const events: StreamEvent[] = [];
    let end: number;
    while ((end = this.#buffer.indexOf('\n\n')) >= 0) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon === 0) continue;
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) events.push({ event, data: data.join('\n') });
    }
    return events;
  }
}

/**
 * Reads `path` as an event stream until it ends or `signal` aborts, calling `onEvent` for
 * each event. Rejects on an HTTP error (an ApiError) or a broken connection.
 */
export async function readEvents(
  api: Api,
  path: string,
  onEvent: (event: StreamEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await api.get(path, 'text/event-stream', signal);
  if (response.body === null) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventParser();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    for (const event of parser.push(value)) onEvent(event);
  }
}
