// JSON for reviewers: a value that fits on one line stays on it (a column, an index, a list path),
// anything longer is broken over lines, so a diff of the mapping shows one change per line.
const WIDTH = 120;

function inline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${inline(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

export function formatJson(value: unknown, indent = '', prefix = 0): string {
  const flat = inline(value);
  if (value === null || typeof value !== 'object' || indent.length + prefix + flat.length <= WIDTH) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  const entries = Object.entries(value).map(([k, v]) => {
    const key = `${JSON.stringify(k)}: `;
    return `${inner}${key}${formatJson(v, inner, key.length)}`;
  });
  return `{\n${entries.join(',\n')}\n${indent}}`;
}
