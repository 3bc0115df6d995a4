// A package's neighbourhood in the dependency graph, drawn by cytoscape.js (bundled from its
// npm package). Loaded on first use: the charts, the first thing shown, do not wait for it.
// Labels are drawn on a canvas, so a name is never parsed as HTML.

import type cytoscape from 'cytoscape';

type Cytoscape = typeof cytoscape;

/** A variable, so that TypeScript does not look for the file: it is copied in by the build. */
const CYTOSCAPE_MODULE = './vendor/cytoscape.esm.min.mjs';

function loadCytoscape(): Promise<Cytoscape> {
  return (import(CYTOSCAPE_MODULE) as Promise<{ default: Cytoscape }>).then((m) => m.default);
}

export interface Neighbourhood {
  readonly name: string;
  readonly dependencies: readonly string[];
  readonly dependents: readonly string[];
}

/** Neighbours drawn on each side: more would be an unreadable disc (the lists show them all). */
export const MAX_DRAWN = 40;

/** The graph of one package at a time; clicking another package calls `onWalk` with its name. */
export class GraphView {
  readonly #container: HTMLElement;
  readonly #onWalk: (name: string) => void;
  #cy: cytoscape.Core | null = null;

  constructor(container: HTMLElement, onWalk: (name: string) => void) {
    this.#container = container;
    this.#onWalk = onWalk;
  }

  /** The cytoscape instance on show (a handle for debugging and the browser tests). */
  get core(): cytoscape.Core | null {
    return this.#cy;
  }

  async show(whole: Neighbourhood): Promise<void> {
    const create = await loadCytoscape();
    this.#cy?.destroy();
    const n = {
      name: whole.name,
      dependencies: whole.dependencies.slice(0, MAX_DRAWN),
      dependents: whole.dependents.slice(0, MAX_DRAWN),
    };
    const nodes = new Map<string, 'self' | 'dep' | 'user' | 'both'>([[n.name, 'self']]);
    for (const d of n.dependencies) if (d !== n.name) nodes.set(d, 'dep');
    for (const d of n.dependents) if (d !== n.name) nodes.set(d, nodes.get(d) === 'dep' ? 'both' : 'user');
    const elements: cytoscape.ElementDefinition[] = [...nodes].map(([name, role]) => ({
      group: 'nodes',
      data: { id: name, label: name, role },
    }));
    for (const d of n.dependencies)
      elements.push({ group: 'edges', data: { id: `d>${d}`, source: n.name, target: d } });
    for (const d of n.dependents)
      elements.push({ group: 'edges', data: { id: `u>${d}`, source: d, target: n.name } });
    this.#cy = create({
      container: this.#container,
      elements,
      // The whole neighbourhood fits; zooming by wheel would fight page scrolling on a phone.
      userZoomingEnabled: false,
      // Fitting a handful of nodes would blow them up to fill the box.
      maxZoom: 1.4,
      boxSelectionEnabled: false,
      autoungrabify: true,
      layout: {
        name: 'concentric',
        concentric: (node: cytoscape.NodeSingular) => (node.data('role') === 'self' ? 2 : 1),
        levelWidth: () => 1,
        minNodeSpacing: 12,
        padding: 16,
        animate: false,
      },
      style: [
        {
          selector: 'node',
          style: {
            label: 'data(label)',
            'font-size': 11,
            'text-valign': 'bottom',
            'text-margin-y': 3,
            'text-wrap': 'ellipsis',
            'text-max-width': '140px',
            width: 14,
            height: 14,
            'background-color': '#2060c0',
          },
        },
        { selector: 'node[role = "user"]', style: { 'background-color': '#c07020' } },
        { selector: 'node[role = "both"]', style: { 'background-color': '#6a4c93' } },
        {
          selector: 'node[role = "self"]',
          style: { 'background-color': '#1d232a', width: 22, height: 22, 'font-weight': 'bold' },
        },
        {
          selector: 'edge',
          style: {
            width: 1,
            'line-color': '#b7bec7',
            'target-arrow-color': '#b7bec7',
            'target-arrow-shape': 'triangle',
            'curve-style': 'straight',
          },
        },
      ],
    });
    this.#cy.on('tap', 'node', (event) => {
      const name = (event.target as cytoscape.NodeSingular).id();
      if (name !== n.name) this.#onWalk(name);
    });
  }

  clear(): void {
    this.#cy?.destroy();
    this.#cy = null;
  }
}
