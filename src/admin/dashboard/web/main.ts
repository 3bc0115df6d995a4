// The dashboard's entry: views by location hash (#/ signals, #/packages?prefix=, #/package/NAME),
// the token form, and the live signal stream with reconnection.

import { Api, ApiError } from './api.js';
import type { Sample } from './charts.js';
import { SignalCharts } from './charts.js';
import { byId } from './dom.js';
import { readEvents } from './event-stream.js';
import { Explorer } from './explorer.js';

const RECONNECT_MS = 2000;

class Dashboard {
  readonly #api = new Api();
  readonly #charts = new SignalCharts(byId('tiles'), byId('charts'));
  readonly #explorer = new Explorer(this.#api);
  #stream = new AbortController();

  start(): void {
    this.#api.onUnauthorized = (message) => {
      this.#askToken(message);
    };
    byId('login', HTMLFormElement).addEventListener('submit', (event) => {
      event.preventDefault();
      this.#api.token = byId('token', HTMLInputElement).value;
      byId('login').hidden = true;
      this.#connect();
      void this.#route();
    });
    addEventListener('hashchange', () => {
      void this.#route();
    });
    this.#connect();
    void this.#route();
  }

  get explorer(): Explorer {
    return this.#explorer;
  }

  #askToken(message: string): void {
    const form = byId('login');
    byId('login-error').textContent = this.#api.token === null ? '' : message;
    form.hidden = false;
    byId('token').focus();
  }

  #status(text: string, bad = false): void {
    const status = byId('status');
    status.textContent = text;
    status.classList.toggle('bad', bad);
  }

  /** (Re)opens the signal stream; a broken one is retried every RECONNECT_MS. */
  #connect(): void {
    this.#stream.abort();
    const controller = new AbortController();
    this.#stream = controller;
    // A function, not the property: the compiler would take it as fixed within the loop.
    const aborted = (): boolean => controller.signal.aborted;
    const run = async (): Promise<void> => {
      while (!aborted()) {
        try {
          await readEvents(
            this.#api,
            '/v1/events',
            ({ event, data }) => {
              if (event === 'history') this.#charts.add(JSON.parse(data) as Sample[]);
              else if (event === 'sample') this.#charts.add([JSON.parse(data) as Sample]);
              this.#status('live');
            },
            controller.signal,
          );
          this.#status('stream ended; reconnecting…', true);
        } catch (err) {
          if (aborted()) return;
          if (err instanceof ApiError && err.status === 401) {
            this.#status('admin token needed', true);
            return;
          }
          this.#status(`disconnected (${err instanceof Error ? err.message : String(err)}); retrying…`, true);
        }
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      }
    };
    void run();
  }

  async #route(): Promise<void> {
    const hash = location.hash.replace(/^#/, '') || '/';
    const [path = '/', query = ''] = hash.split('?', 2);
    let view = 'signals';
    if (path === '/packages') view = 'packages';
    else if (path.startsWith('/package/')) view = 'package';
    for (const section of document.querySelectorAll<HTMLElement>('.view'))
      section.hidden = section.id !== `view-${view}`;
    for (const link of document.querySelectorAll<HTMLElement>('nav a'))
      link.classList.toggle('active', link.dataset.view === (view === 'package' ? 'packages' : view));
    if (view === 'signals') this.#charts.resize();
    else if (view === 'packages') await this.#explorer.search(new URLSearchParams(query).get('prefix') ?? '');
    else await this.#explorer.open(decodeURIComponent(path.slice('/package/'.length)));
  }
}

const dashboard = new Dashboard();
// A handle for debugging from the console (and for the browser tests to find graph nodes).
Object.assign(window, { pkgindexDashboard: dashboard });
dashboard.start();
