/**
 * The documents cannot drift from the code: every link and anchor resolves, every `deno task` named exists, every
 * flag shown on a `deno task conform` line is one it takes, every repository path named exists, the imports of a
 * TypeScript example that says where it lives resolve from there, and the README stays short.
 */
import { assert, assertEquals } from "@std/assert";
import { parse as parseJsonc } from "@std/jsonc";
import { CONFORM_FLAGS } from "../harness/cli/cli.ts";

const DOCS = [
  "README.md",
  "CONTRIBUTING.md",
  "docs/running.md",
  "docs/reports.md",
  "docs/adapter_contract.md",
  "docs/design.md",
];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchor(heading: string): string {
  return heading.replace(/^#+\s+/, "").trim().toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-");
}

function anchorsOf(text: string): Set<string> {
  return new Set([...text.matchAll(/^#{1,6} .*$/gm)].map((m) => anchor(m[0])));
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i);
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "." || part === "") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The problems of one document (`texts`: every document's text, for anchors in other files). */
async function problemsOf(doc: string, texts: Map<string, string>, tasks: Set<string>): Promise<string[]> {
  const text = texts.get(doc)!;
  const problems: string[] = [];
  // Links outside code blocks.
  const prose = text.replace(/```[\s\S]*?```/g, "");
  for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!;
    if (/^[a-z]+:/.test(target)) continue;
    const [file, frag] = target.split("#") as [string, string | undefined];
    const path = file === "" ? doc : normalize(`${dirOf(doc)}/${file}`);
    if (!await exists(path)) {
      problems.push(`${doc}: link to ${target}: no file ${path}`);
      continue;
    }
    if (frag !== undefined && path.endsWith(".md")) {
      const other = texts.get(path) ?? await Deno.readTextFile(path);
      if (!anchorsOf(other).has(frag)) problems.push(`${doc}: link to ${target}: no heading #${frag} in ${path}`);
    }
  }
  for (const m of text.matchAll(/deno task ([a-z-]+)/g)) {
    if (!tasks.has(m[1]!)) problems.push(`${doc}: "deno task ${m[1]}" is no task of deno.json`);
  }
  for (const line of text.split("\n")) {
    const conform = /deno task conform\b(.*)$/.exec(line);
    if (!conform) continue;
    for (const f of conform[1]!.matchAll(/(?:^|\s)--([a-z][a-z-]*)/g)) {
      if (!CONFORM_FLAGS.includes(f[1]!)) problems.push(`${doc}: --${f[1]} is no flag of deno task conform: ${line}`);
    }
  }
  // A TypeScript example that says where it lives (`// suites/x/y.ts` on its first line): its imports resolve from there.
  for (const m of text.matchAll(/```ts\n\/\/ ([\w./-]+\.ts)\n([\s\S]*?)```/g)) {
    for (const i of m[2]!.matchAll(/from "(\.{1,2}\/[^"]+)"/g)) {
      const path = normalize(`${dirOf(m[1]!)}/${i[1]}`);
      if (!await exists(path)) problems.push(`${doc}: the example ${m[1]} imports ${i[1]}: no file ${path}`);
    }
  }
  // Paths in backticks: the repository's folders and top-level files, without wildcards or placeholders.
  for (const m of text.matchAll(/`((?:harness|suites|fixtures|bench|docs|reports)\/[\w./-]*|[\w-]+\.(?:ts|md))`/g)) {
    const path = m[1]!;
    // Run outputs (reports/latest.*, out, tmp, runs, merged, logs) exist only after a run: a fresh clone has none.
    if (/[*<>]/.test(path) || /^reports\/(?:latest|out|tmp|runs|merged)\b|\.log$/.test(path)) continue;
    if (!path.includes("/") && !await exists(path)) continue; // a bare file name stands for one in the folder named
    if (!await exists(path)) problems.push(`${doc}: \`${path}\` does not exist`);
  }
  return problems;
}

Deno.test("docs: links, anchors, tasks, conform flags and paths all resolve", async () => {
  const texts = new Map<string, string>();
  for (const d of DOCS) texts.set(d, await Deno.readTextFile(d));
  const config = parseJsonc(await Deno.readTextFile("deno.json")) as { tasks: Record<string, string> };
  const tasks = new Set(Object.keys(config.tasks));
  const problems: string[] = [];
  for (const d of DOCS) problems.push(...await problemsOf(d, texts, tasks));
  assertEquals(problems, []);
});

Deno.test("docs: the README stays short enough to read in a few minutes", async () => {
  const size = (await Deno.readTextFile("README.md")).length;
  assert(size < 10_000, `README.md is ${size} characters`);
});

Deno.test("docs: a renamed file or a removed heading is caught", async () => {
  const texts = new Map([
    ["README.md", "# T\n\n## Here\n\nSee [x](docs/nope.md), [y](#there), `harness/nope.ts`, deno task nope.\n"],
  ]);
  const problems = await problemsOf("README.md", texts, new Set(["conform"]));
  assertEquals(problems, [
    "README.md: link to docs/nope.md: no file docs/nope.md",
    "README.md: link to #there: no heading #there in README.md",
    'README.md: "deno task nope" is no task of deno.json',
    "README.md: `harness/nope.ts` does not exist",
  ]);
});
