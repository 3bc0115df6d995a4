// Browser side of the dashboard. Data (package names above all) only ever reaches the page as
// text: through `textContent` and text nodes, never as HTML, so a package named like a tag is
// shown as that text. The CSP requires Trusted Types, which makes an HTML sink throw anyway.

type Child = Node | string;

/** `document.getElementById` that fails loudly when the page and the code disagree. */
export function byId(id: string): HTMLElement;
export function byId<T extends HTMLElement>(id: string, type: new () => T): T;
export function byId(id: string, type: new () => HTMLElement = HTMLElement): HTMLElement {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new TypeError(`the page has no #${id} of type ${type.name}`);
  return found;
}

/** A new element with a class and children; strings become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className !== '') element.className = className;
  element.append(...children);
  return element;
}

/** The dashboard's link to a package's page. */
export function packageHref(name: string): string {
  return `#/package/${encodeURIComponent(name)}`;
}

/** A link to a package's page, its name as text. */
export function packageLink(name: string): HTMLAnchorElement {
  const a = el('a', '', name);
  a.href = packageHref(name);
  return a;
}

/** Replaces the children of `parent`. */
export function fill(parent: HTMLElement, ...children: Child[]): void {
  parent.replaceChildren(...children);
}
