import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: where `.data/`, `.cache/` and `scripts/` live. */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
