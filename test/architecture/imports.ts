/**
 * A small scanner for the module specifiers a TypeScript file imports, for the layer test:
 * `import ... from 'x'`, `import type ... from 'x'`, `export ... from 'x'`, `import 'x'` and
 * `import('x')`. It tokenizes just enough of the language (comments, strings, template
 * literals, regular expressions) that text inside those is never taken for an import.
 */

type Token =
  | { readonly kind: 'word'; readonly text: string }
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'punct'; readonly text: string }
  | { readonly kind: 'value' };

/** After these words a `/` starts a regular expression, not a division. */
const BEFORE_EXPRESSION = new Set([
  'return',
  'typeof',
  'case',
  'in',
  'of',
  'void',
  'yield',
  'await',
  'delete',
  'throw',
  'new',
  'else',
  'do',
]);

function isWordStart(c: string): boolean {
  return /[A-Za-z_$]/.test(c);
}

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  /** For each `${` of a template being read: how many `{` are open inside it. */
  const templates: number[] = [];
  let i = 0;
  const n = source.length;

  /** Reads template text from `i` (just after a backtick or a closing `}`) to its end or `${`. */
  const templateText = (): void => {
    while (i < n) {
      const c = source[i]!;
      if (c === '\\') i += 2;
      else if (c === '`') {
        i++;
        tokens.push({ kind: 'value' });
        return;
      } else if (c === '$' && source[i + 1] === '{') {
        i += 2;
        templates.push(0);
        return;
      } else i++;
    }
  };

  const regexAllowed = (): boolean => {
    const last = tokens.at(-1);
    if (last === undefined) return true;
    if (last.kind === 'value' || last.kind === 'string') return false;
    if (last.kind === 'word') return BEFORE_EXPRESSION.has(last.text);
    return !(last.text === ')' || last.text === ']' || last.text === '}');
  };

  while (i < n) {
    const c = source[i]!;
    const next = source[i + 1];
    if (/\s/.test(c)) i++;
    else if (c === '/' && next === '/') {
      while (i < n && source[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === "'" || c === '"') {
      let text = '';
      i++;
      while (i < n && source[i] !== c) {
        if (source[i] === '\\') i++;
        text += source[i] ?? '';
        i++;
      }
      i++;
      tokens.push({ kind: 'string', text });
    } else if (c === '`') {
      i++;
      templateText();
    } else if (c === '/' && regexAllowed()) {
      let inClass = false;
      i++;
      while (i < n && (inClass || source[i] !== '/')) {
        if (source[i] === '\\') i++;
        else if (source[i] === '[') inClass = true;
        else if (source[i] === ']') inClass = false;
        i++;
      }
      i++;
      while (i < n && /[a-z]/.test(source[i]!)) i++;
      tokens.push({ kind: 'value' });
    } else if (isWordStart(c)) {
      const start = i;
      while (i < n && /[\w$]/.test(source[i]!)) i++;
      tokens.push({ kind: 'word', text: source.slice(start, i) });
    } else if (/\d/.test(c)) {
      while (i < n && /[\w.]/.test(source[i]!)) i++;
      tokens.push({ kind: 'value' });
    } else if (c === '{' && templates.length > 0) {
      templates[templates.length - 1]!++;
      tokens.push({ kind: 'punct', text: c });
      i++;
    } else if (c === '}' && templates.length > 0 && templates.at(-1) === 0) {
      templates.pop();
      i++;
      templateText();
    } else {
      if (c === '}' && templates.length > 0) templates[templates.length - 1]!--;
      tokens.push({ kind: 'punct', text: c });
      i++;
    }
  }
  return tokens;
}

function textOf(token: Token | undefined): string | undefined {
  return token === undefined || token.kind === 'value' ? undefined : token.text;
}

/** The module specifiers `source` imports or re-exports, in order of appearance. */
export function importsOf(source: string): string[] {
  const tokens = tokenize(source);
  const found: string[] = [];
  tokens.forEach((t, k) => {
    if (t.kind !== 'word') return;
    const [a, b, c] = [tokens[k + 1], tokens[k + 2], tokens[k + 3]];
    // `from 'x'`: only imports and re-exports put a string right after the word `from`.
    if (t.text === 'from' && a?.kind === 'string') found.push(a.text);
    // `import 'x'`, and `import('x')`.
    else if (t.text === 'import' && a?.kind === 'string') found.push(a.text);
    else if (t.text === 'import' && textOf(a) === '(' && b?.kind === 'string' && textOf(c) === ')')
      found.push(b.text);
  });
  return found;
}
