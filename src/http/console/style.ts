/** The console's only stylesheet, served as /console/style.css (the CSP allows styles from 'self' only). */
export const CONSOLE_CSS = `
:root { --fg: #1d232b; --muted: #5d6875; --line: #d8dde3; --bg: #f6f7f9; --accent: #0b5cad; --bad: #a4161a; --warn: #8a5a00; --ok: #17663a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; padding: .6rem 1.2rem; background: #14202e; color: #fff; }
header a { color: #fff; text-decoration: none; }
header .brand { font-weight: 700; margin-right: .5rem; }
header nav { display: flex; gap: .9rem; }
header nav a[aria-current] { text-decoration: underline; }
header form { margin-left: auto; display: flex; gap: .3rem; }
header .who { font-size: 12px; opacity: .8; }
input, button { font: inherit; padding: .25rem .5rem; border: 1px solid var(--line); border-radius: 3px; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
main { padding: 1rem 1.2rem 3rem; max-width: 1200px; }
h1 { font-size: 1.35rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .35rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f4; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .02em; color: var(--muted); }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; background: #fff; border: 1px solid var(--line); padding: .7rem 1rem; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
pre.sms { white-space: pre-wrap; overflow-wrap: anywhere; background: #fff; border: 1px solid var(--line); padding: .6rem .8rem; margin: 0; }
.muted { color: var(--muted); }
.status { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-size: 12px; background: #e6e9ed; }
.status-delivered, .status-sent { background: #dcefe3; color: var(--ok); }
.status-failed, .status-rejected, .status-expired, .status-unknown { background: #f7dcdc; color: var(--bad); }
.status-suppressed, .status-queued, .status-sending { background: #fbeccc; color: var(--warn); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: .8rem; margin-bottom: 1rem; }
.card { background: #fff; border: 1px solid var(--line); padding: .7rem 1rem; }
.card .big { font-size: 1.6rem; font-weight: 700; }
.bad { color: var(--bad); }
.ok { color: var(--ok); }
.pager { margin: .8rem 0; display: flex; gap: 1rem; }
.login { max-width: 420px; margin: 4rem auto; background: #fff; border: 1px solid var(--line); padding: 1.5rem; }
.login input { width: 100%; margin: .5rem 0 1rem; }
.notice { background: #fff7e0; border: 1px solid #ecd58b; padding: .5rem .8rem; margin-bottom: 1rem; }
`;
