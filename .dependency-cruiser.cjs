/*
 * The layer rules of src/ (docs/development.md, "Layer rules"). Lower layers
 * never import higher ones; `npm test` runs this check, so a back-arrow fails CI.
 *
 *   core  <  message, numbers, consent  <  config  <  ledger  <  intake
 *         <  providers, notify, inbound, dispatch, automations, smtp, http, simulator
 *         <  daemon.ts + daemon/ (its start steps)  <  cli
 *
 * Inside the ledger: the contract (src/ledger/*.ts) knows no backend;
 * sqlite/ and postgres/ use the contract and not each other; open.ts alone
 * picks one, and nothing outside src/ledger/ imports a backend.
 */
const stage = (name) => `^src/${name}/`;
const above = (...names) => names.map(stage);

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Modules form a tree per layer: a cycle means two files should be one, or share a third.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-is-the-bottom',
      severity: 'error',
      comment: 'core/ (errors, clock, log, metrics, durations, windows, passwords) is usable by all and uses none of them.',
      from: { path: stage('core') },
      to: { path: '^src/', pathNot: stage('core') },
    },
    {
      name: 'domain-rules-stay-pure',
      severity: 'error',
      comment: 'message/, numbers/ and consent/ turn values into values: no config, storage, stage or network code.',
      from: { path: ['^src/(message|numbers|consent)/'] },
      to: { path: above('config', 'ledger', 'intake', 'smtp', 'http', 'dispatch', 'providers', 'notify', 'inbound', 'automations', 'simulator', 'cli', 'daemon') },
    },
    {
      name: 'domain-rules-no-network',
      severity: 'error',
      comment: 'The text, number and ledger rules never import smtp-server or node:http.',
      from: { path: ['^src/(message|numbers|consent|intake)/', '^src/ledger/rules\\.ts$'] },
      to: { path: ['smtp-server', '^(node:)?https?$', '^node_modules/smtp-server/'] },
    },
    {
      name: 'config-below-stages',
      severity: 'error',
      comment: 'config/ owns every schema; stages receive settings from it, never the other way round.',
      from: { path: stage('config') },
      to: { path: above('ledger', 'intake', 'smtp', 'http', 'dispatch', 'providers', 'notify', 'inbound', 'automations', 'simulator', 'cli', 'daemon') },
    },
    {
      name: 'ledger-is-storage',
      severity: 'error',
      comment: 'The ledger imports no stage above it: dispatch\'s claim rules reach it as a function (ClaimPolicy), passed in by the daemon and the CLI. The one exception is the SQLite ledger thread\'s entry, which is wiring: a function cannot cross to a thread, so it builds the claim policy there.',
      from: { path: stage('ledger'), pathNot: '^src/ledger/sqlite/thread-entry\\.ts$' },
      to: { path: above('config', 'intake', 'smtp', 'http', 'dispatch', 'providers', 'notify', 'inbound', 'automations', 'simulator', 'cli', 'daemon') },
    },
    {
      name: 'only-the-ledger-picks-a-backend',
      severity: 'error',
      comment: 'Outside src/ledger/, nobody knows which backends exist: the daemon and the CLI call openLedger (src/ledger/open.ts) and use what it returns (tests may import a backend directly).',
      from: { path: '^src/', pathNot: stage('ledger') },
      to: { path: '^src/ledger/(sqlite|postgres)/' },
    },
    {
      name: 'contract-knows-no-backend',
      severity: 'error',
      comment: 'The ledger contract (types, rules, shared SQL at the top of src/ledger/) is what both backends share; only open.ts imports a backend.',
      from: { path: '^src/ledger/[^/]+\\.ts$', pathNot: '^src/ledger/open\\.ts$' },
      to: { path: '^src/ledger/(sqlite|postgres)/' },
    },
    {
      name: 'backends-stay-apart',
      severity: 'error',
      comment: 'sqlite/ and postgres/ share code through the contract, never by importing each other (migrate --from-sqlite gets its SQLite reader from open.ts).',
      from: { path: '^src/ledger/(sqlite|postgres)/' },
      to: { path: '^src/ledger/(sqlite|postgres)/', pathNot: ['^src/ledger/$1/'] },
    },
    {
      name: 'intake-is-one-decision',
      severity: 'error',
      comment: 'intake/ is the pure decision both SMTP and explain call: no sockets, no ledger implementation, no stage above it.',
      from: { path: stage('intake') },
      to: { path: [...above('smtp', 'http', 'dispatch', 'providers', 'notify', 'inbound', 'automations', 'simulator', 'cli', 'daemon'), '^src/ledger/(?!(types|rules)\\.ts$)'] },
    },
    {
      name: 'stages-do-not-import-cli',
      severity: 'error',
      comment: 'Nothing imports cli/ but bin/.',
      from: { path: '^src/', pathNot: stage('cli') },
      to: { path: stage('cli') },
    },
    {
      name: 'only-wiring-imports-the-daemon',
      severity: 'error',
      comment: 'daemon.ts wires the stages with its start steps in daemon/; only the CLI starts it.',
      from: { path: '^src/', pathNot: [stage('cli'), '^src/daemon\\.ts$', stage('daemon')] },
      to: { path: '^src/daemon(\\.ts$|/)' },
    },
    {
      name: 'simulator-is-its-own-program',
      severity: 'error',
      comment: 'The provider simulator ships with us but is a separate program: it uses core/ and message/ only.',
      from: { path: stage('simulator') },
      to: { path: '^src/', pathNot: ['^src/(core|message)/', stage('simulator'), '^src/ledger/types\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
