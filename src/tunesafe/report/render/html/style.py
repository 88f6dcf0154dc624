"""The HTML page's stylesheet (inline: the page loads nothing)."""

from __future__ import annotations

__all__ = ["CSS"]


CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 28px 32px 72px; }
h1 { font-size: 1.75rem; line-height: 1.25; margin: 0 0 .4rem; }
h2 { font-size: 1.3rem; margin: 2.4rem 0 .7rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .4rem; }
h4 { font-size: .95rem; margin: 1.2rem 0 .3rem; }
p { margin: .5rem 0; }
p.meta { color: var(--muted); font-size: .92rem; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
nav.toc { margin: 1rem 0 0; padding: .55rem .9rem; border: 1px solid var(--line); border-radius: 8px;
  background: var(--soft); }
nav.toc ol { display: flex; flex-wrap: wrap; gap: .2rem 1.3rem; margin: 0; padding: 0; list-style: none;
  font-size: .9rem; counter-reset: toc; }
nav.toc li { counter-increment: toc; }
nav.toc li::before { content: counter(toc) ". "; color: var(--muted); }
section#summary ul { padding-left: 1.2rem; }
section#summary li { margin: .45rem 0; }
ul { padding-left: 1.3rem; }
li { margin: .25rem 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: .86em;
  background: var(--soft); padding: .05em .3em; border-radius: 4px; }
.table-wrap { overflow-x: auto; margin: .6rem 0 1.1rem; }
table { border-collapse: collapse; font-size: .84rem; }
th, td { border: 1px solid var(--line); padding: .32rem .6rem; text-align: left; vertical-align: top; }
thead th { background: var(--soft); font-weight: 600; }
tbody tr:nth-child(even) td { background: #fbfcfd; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
.nw { white-space: nowrap; }
table.repro th { background: var(--soft); font-weight: 600; white-space: nowrap; }
table.repro td { font-size: .82rem; }
figure { margin: 1rem 0 1.4rem; padding: .9rem; border: 1px solid var(--line); border-radius: 8px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { margin-top: .55rem; color: var(--muted); font-size: .86rem; }
"""
