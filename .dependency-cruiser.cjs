// The layout rule: a part never imports another part's internals — only src/platform/ and the
// other part's public client module (src/<part>/client.ts or src/<part>/client/). The platform
// imports no part. Checked in CI (`npm run depcheck`).
const PARTS = '(stripe-emulator|stripe-sync|payments|billing|chronicles)';

module.exports = {
  forbidden: [
    {
      name: 'no-other-part-internals',
      comment: "A part may use another part only through that part's public client module.",
      severity: 'error',
      from: { path: `^src/${PARTS}/` },
      to: { path: `^src/${PARTS}/`, pathNot: ['^src/$1/', `^src/${PARTS}/client(\\.ts$|/)`] },
    },
    {
      name: 'platform-imports-no-part',
      comment: 'src/platform/ is what every part stands on; it must not depend on any of them.',
      severity: 'error',
      from: { path: '^src/platform/' },
      to: { path: '^src/(?!platform/)' },
    },
    {
      name: 'src-not-to-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json', '.d.ts'], conditionNames: ['import', 'node', 'default'], exportsFields: ['exports'], mainFields: ['module', 'main', 'types'] },
  },
};
