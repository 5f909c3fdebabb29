/*
 * The layer rules of src/ (README "Development"). Lower layers never import
 * higher ones; `npm test` runs this check, so a back-arrow fails CI.
 *
 *   core  <  message, numbers, consent  <  config  <  ledger  <  intake
 *         <  providers, notify, inbound, dispatch, smtp, http, simulator
 *         <  cli  <  daemon.ts + daemon/ (its start steps) / threads/ (wiring)
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
      to: { path: above('config', 'ledger', 'intake', 'smtp', 'http', 'dispatch', 'providers', 'notify', 'inbound', 'automations', 'simulator', 'cli', 'threads') },
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
      to: { path: above('ledger', 'intake', 'smtp', 'http', 'dispatch', 'providers', 'notify', 'inbound', 'automations', 'simulator', 'cli', 'threads') },
    },
    {
      name: 'ledger-is-storage',
      severity: 'error',
      comment: 'The ledger imports no stage above it (dispatch rules reach it as functions, wired in threads/).',
      from: { path: stage('ledger') },
      to: { path: above('config', 'intake', 'smtp', 'http', 'dispatch', 'providers', 'notify', 'inbound', 'automations', 'simulator', 'cli', 'threads') },
    },
    {
      name: 'intake-is-one-decision',
      severity: 'error',
      comment: 'intake/ is the pure decision both SMTP and explain call: no sockets, no ledger implementation, no stage above it.',
      from: { path: stage('intake') },
      to: { path: [...above('smtp', 'http', 'dispatch', 'providers', 'notify', 'inbound', 'automations', 'simulator', 'cli', 'threads'), '^src/ledger/(?!types|rules|consent-types)'] },
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
