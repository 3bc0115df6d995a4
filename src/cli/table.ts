/** Plain-text tables and trees for the query commands' human output. */

/**
 * Rows as columns padded to the widest cell, the last column left unpadded; numbers
 * right-aligned. `header` null: rows that continue a table already begun.
 */
export function formatTable(
  header: readonly string[] | null,
  rows: readonly (readonly (string | number)[])[],
): string {
  const all = header === null ? rows : [header, ...rows];
  const columns = all[0]?.length ?? 0;
  const widths = Array.from({ length: columns }, (_, c) =>
    Math.max(...all.map((row) => String(row[c] ?? '').length)),
  );
  return all
    .map((row) =>
      row
        .map((cell, c) => {
          if (c === row.length - 1 && typeof cell !== 'number') return cell;
          return typeof cell === 'number' ? String(cell).padStart(widths[c]!) : cell.padEnd(widths[c]!);
        })
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}

export interface TextTreeNode {
  readonly name: string;
  readonly children?: readonly TextTreeNode[];
  readonly seen?: true;
  readonly more?: true;
}

/**
 * A tree drawn like `brew deps --tree`: `├──`/`└──` branches; `(*)` after a package shown
 * expanded earlier, `…` after one whose children are cut by the depth or size limit.
 */
export function formatTree(root: TextTreeNode): string {
  const lines: string[] = [label(root)];
  const walk = (node: TextTreeNode, indent: string): void => {
    const children = node.children ?? [];
    children.forEach((child, i) => {
      const last = i === children.length - 1;
      lines.push(`${indent}${last ? '└── ' : '├── '}${label(child)}`);
      walk(child, indent + (last ? '    ' : '│   '));
    });
  };
  walk(root, '');
  return lines.map((l) => `${l}\n`).join('');
}

function label(node: TextTreeNode): string {
  return node.name + (node.seen === true ? ' (*)' : '') + (node.more === true ? ' …' : '');
}
