/**
 * The conformance matrix as one self-contained HTML page: a row per clause
 * (grouped by spec section), a column per target and transport, a cell per
 * verdict in colour; a cell opens its detail (message, expected, actual,
 * counterexample, replay command); coverage per area and role; filters by
 * verdict, section, level and target. Everything (styles, script, data) is
 * inside the file: it works offline, from disk, with no network.
 *
 * The table is rendered here, so the page reads without script; the inline
 * script adds the filters and the detail panel.
 *
 * @module
 */
import { type ClauseResult, type RunReport, summarize, type Verdict } from "../harness/core/result.ts";

const VERDICTS: readonly Verdict[] = ["pass", "fail", "warn", "error", "n/a"];
const LABEL: Record<Verdict, string> = { pass: "pass", fail: "FAIL", warn: "warn", error: "ERROR", "n/a": "n/a" };

/** Escapes text for HTML content and attribute values. */
function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** JSON that is safe inside a `<script>` element (no `</script>`, no HTML comment openers). */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/** The area a section belongs to, for coverage: its first two levels (`2.7.5.3.2` → `2.7`). */
export function areaOf(section: string): string {
  return section.split(".").slice(0, 2).join(".");
}

/** The column a result sits in. */
function columnOf(r: ClauseResult): string {
  return `${r.target} ${r.transport}`;
}

function bySection(a: ClauseResult, b: ClauseResult): number {
  return a.section.localeCompare(b.section, "en", { numeric: true }) || a.statement - b.statement ||
    a.clause.localeCompare(b.clause) || a.role.localeCompare(b.role);
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1rem;color:#111}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:#f4f4f4;z-index:1}
th.col{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-weight:normal}
tr.section th{background:#e8eef7;text-align:left}
td.v{text-align:center;cursor:pointer;min-width:3.2em;font-size:12px}
td.v-pass{background:#c8efc8}td.v-fail{background:#f5a3a3;font-weight:bold}td.v-warn{background:#fbe3a1}
td.v-error{background:#d7b5f0;font-weight:bold}td.v-na{background:#f2f2f2;color:#777}td.none{background:#fff}
.filters{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;margin:.6rem 0;padding:.4rem;background:#fafafa;border:1px solid #ddd}
#detail{position:fixed;right:1rem;top:1rem;width:min(40rem,45vw);max-height:90vh;overflow:auto;background:#fff;
border:2px solid #333;padding:.6rem;box-shadow:0 4px 16px #0004;z-index:2}
#detail[hidden]{display:none}#detail pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:4px}
#detail dt{font-weight:bold;margin-top:.3rem}#detail dd{margin:0 0 0 .6rem}
.req{color:#444;font-size:12px}.counts td,.counts th{text-align:right}.counts td:first-child{text-align:left}
`;

// The page's script: filters hide rows and columns, a cell click fills the detail panel from the embedded results.
const SCRIPT = `
(() => {
  const results = JSON.parse(document.getElementById("results").textContent);
  const detail = document.getElementById("detail");
  const show = (i) => {
    const r = results[i];
    const rows = [["Clause", r.clause + " (" + r.level + ", " + r.role + ")"], ["Requirement", r.requirement],
      ["Target", r.target + " on " + r.transport + " (" + r.deviceType + ")"], ["Verdict", r.verdict],
      ["Message", r.message], ["Expected", r.expected], ["Actual", r.actual],
      ["Counterexample", r.counterexample], ["Seed", String(r.seed)], ["Replay", r.replay],
      ["Time", r.durationMs + " ms"]];
    const dl = document.createElement("dl");
    for (const [k, v] of rows) {
      if (v === undefined || v === "") continue;
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd");
      if (k === "Replay" || k === "Counterexample") { const pre = document.createElement("pre"); pre.textContent = v; dd.append(pre); }
      else dd.textContent = v;
      dl.append(dt, dd);
    }
    detail.querySelector(".body").replaceChildren(dl);
    detail.hidden = false;
  };
  document.getElementById("matrix").addEventListener("click", (e) => {
    const td = e.target.closest("td[data-i]");
    if (td) show(Number(td.dataset.i));
  });
  detail.querySelector("button").addEventListener("click", () => { detail.hidden = true; });
  const form = document.getElementById("filters");
  const apply = () => {
    const verdicts = new Set([...form.querySelectorAll("input[name=verdict]:checked")].map((x) => x.value));
    const section = form.querySelector("input[name=section]").value.trim();
    const level = form.querySelector("select[name=level]").value;
    const target = form.querySelector("select[name=target]").value;
    document.querySelectorAll("#matrix [data-target]").forEach((c) => {
      c.hidden = target !== "" && c.dataset.target !== target;
    });
    const shown = new Set();
    document.querySelectorAll("#matrix tbody tr.clause").forEach((tr) => {
      const cells = [...tr.querySelectorAll("td.v")].filter((c) => !c.hidden && c.dataset.verdict);
      const ok = (section === "" || tr.dataset.section === section || tr.dataset.section.startsWith(section + ".")) &&
        (level === "" || tr.dataset.level === level) && cells.some((c) => verdicts.has(c.dataset.verdict));
      tr.hidden = !ok;
      if (ok) shown.add(tr.dataset.group);
    });
    document.querySelectorAll("#matrix tbody tr.section").forEach((tr) => { tr.hidden = !shown.has(tr.dataset.group); });
    document.getElementById("shown").textContent = String(document.querySelectorAll("#matrix tbody tr.clause:not([hidden])").length);
  };
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  apply();
})();
`;

/**
 * The conformance matrix of `report` (one run, or several merged with
 * `mergeReports`) as a self-contained HTML page.
 *
 * @example
 * ```ts ignore
 * await Deno.writeTextFile("matrix.html", matrixHtml(merged.report));
 * ```
 */
export function matrixHtml(report: RunReport): string {
  const results = [...report.results].sort(bySection);
  const index = new Map(results.map((r, i) => [r, i]));
  const columns = [...new Set(results.map(columnOf))].sort();
  const targets = [...new Set(results.map((r) => r.target))].sort();
  const levels = [...new Set(results.map((r) => r.level))].sort();
  const rows = new Map<string, { first: ClauseResult; cells: Map<string, ClauseResult> }>();
  for (const r of results) {
    const key = `${r.role} ${r.clause}`;
    const row = rows.get(key) ?? { first: r, cells: new Map() };
    row.cells.set(columnOf(r), r);
    rows.set(key, row);
  }
  const s = report.summary;
  const out: string[] = [];
  out.push(
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>virtio conformance matrix</title>",
    `<style>${STYLE}</style></head><body>`,
    "<h1>virtio conformance matrix</h1>",
    `<p id="summary">${results.length} results over ${columns.length} target × transport columns: ${s.pass} pass, ` +
      `${s.fail} fail, ${s.warn} warn, ${s["n/a"]} n/a, ${s.error} error${
        report.meta.complete === false ? " (incomplete)" : ""
      }. Spec ${esc(report.meta.specVersion ?? "")}, suite ${esc(report.meta.suiteVersion ?? "")}.</p>`,
  );
  // Counts per column and coverage per area and role.
  out.push(
    "<h2>Per target and transport</h2>",
    '<table class="counts" id="columns"><thead><tr><th>target transport</th>',
    ...VERDICTS.map((v) => `<th>${v}</th>`),
    "</tr></thead><tbody>",
  );
  for (const c of columns) {
    const n = summarize(results.filter((r) => columnOf(r) === c));
    out.push(`<tr><td>${esc(c)}</td>${VERDICTS.map((v) => `<td>${n[v]}</td>`).join("")}</tr>`);
  }
  out.push("</tbody></table>");
  const areas = [...new Set(results.map((r) => `${areaOf(r.section)}\u0000${r.role}`))].sort((a, b) =>
    a.localeCompare(b, "en", { numeric: true })
  );
  out.push(
    "<h2>Coverage per area and role</h2>",
    '<table class="counts" id="coverage"><thead><tr><th>area</th><th>role</th><th>clauses</th><th>judged</th>',
    ...VERDICTS.map((v) => `<th>${v}</th>`),
    "</tr></thead><tbody>",
  );
  for (const a of areas) {
    const [area, role] = a.split("\u0000") as [string, string];
    const mine = results.filter((r) => areaOf(r.section) === area && r.role === role);
    const n = summarize(mine);
    const clauses = new Set(mine.map((r) => r.clause)).size;
    const judged = new Set(mine.filter((r) => r.verdict !== "n/a").map((r) => r.clause)).size;
    out.push(
      `<tr><td>${esc(area)}</td><td>${esc(role)}</td><td>${clauses}</td><td>${judged}</td>${
        VERDICTS.map((v) => `<td>${n[v]}</td>`).join("")
      }</tr>`,
    );
  }
  out.push("</tbody></table>");
  // Filters.
  out.push(
    "<h2>Matrix</h2>",
    '<form id="filters" class="filters" onsubmit="return false">',
    ...VERDICTS.map((v) => `<label><input type="checkbox" name="verdict" value="${v}" checked> ${LABEL[v]}</label>`),
    '<label>section <input name="section" size="10" placeholder="e.g. 2.7"></label>',
    `<label>level <select name="level"><option value="">all</option>${
      levels.map((l) => `<option>${esc(l)}</option>`).join("")
    }</select></label>`,
    `<label>target <select name="target"><option value="">all</option>${
      targets.map((t) => `<option>${esc(t)}</option>`).join("")
    }</select></label>`,
    `<span><span id="shown">${rows.size}</span> of ${rows.size} clauses shown</span>`,
    "</form>",
  );
  // The matrix.
  out.push(
    '<table id="matrix"><thead><tr><th>clause</th><th>level</th><th>role</th>',
    ...columns.map((c) => `<th class="col" data-target="${esc(c.slice(0, c.lastIndexOf(" ")))}">${esc(c)}</th>`),
    "</tr></thead><tbody>",
  );
  let group = "";
  for (const { first, cells } of rows.values()) {
    if (first.label !== group) {
      group = first.label;
      out.push(
        `<tr class="section" data-group="${esc(group)}"><th colspan="${3 + columns.length}">${esc(first.section)} ${
          esc(group.replace(/^[a-z]+normative:/, ""))
        }</th></tr>`,
      );
    }
    out.push(
      `<tr class="clause" data-group="${esc(group)}" data-section="${esc(first.section)}" data-level="${
        esc(first.level)
      }"><td><b>${esc(first.clause)}</b> ${esc(first.title)}<div class="req">${esc(first.requirement)}</div></td>` +
        `<td>${esc(first.level)}</td><td>${esc(first.role)}</td>`,
    );
    for (const c of columns) {
      const target = esc(c.slice(0, c.lastIndexOf(" ")));
      const r = cells.get(c);
      out.push(
        r
          ? `<td class="v v-${
            r.verdict === "n/a" ? "na" : r.verdict
          }" data-target="${target}" data-verdict="${r.verdict}" ` +
            `data-i="${index.get(r)}" title="${esc(`${c}: ${r.verdict}${r.message ? ` — ${r.message}` : ""}`)}">${
              LABEL[r.verdict]
            }</td>`
          : `<td class="v none" data-target="${target}"></td>`,
      );
    }
    out.push("</tr>");
  }
  out.push("</tbody></table>");
  out.push(
    '<aside id="detail" hidden><button type="button">close</button><div class="body"></div></aside>',
    `<script type="application/json" id="results">${scriptJson(results)}</script>`,
    `<script>${SCRIPT}</script>`,
    "</body></html>",
    "",
  );
  return out.join("\n");
}
