/**
 * The floors of the code, lowest first, and the rule that a module imports only from its own floor or lower ones.
 * `layers_test.ts` reads every module's imports and holds the tree to it; the README's layout section shows the same
 * order.
 *
 * @module
 */

/** One floor: its name and the paths (a file, or a folder ending in `/`) on it. */
export interface Floor {
  name: string;
  paths: readonly string[];
}

/** The floors, lowest first. Test files (`*_test.ts`) stand outside them and may import anything. */
export const FLOORS: readonly Floor[] = [
  {
    name: "helpers",
    paths: [
      "harness/clock.ts",
      "harness/features.ts",
      "harness/memory.ts",
      "harness/registers.ts",
      "harness/status.ts",
      "harness/text.ts",
      "harness/options.ts",
      "harness/spec_data.ts",
      "harness/ring_labels.ts",
      "harness/verify.ts",
      "harness/fuzz.ts",
      "fixtures/spec/",
    ],
  },
  { name: "adapter contract", paths: ["harness/adapter.ts", "harness/deadline.ts", "harness/fence.ts"] },
  { name: "transports and virtqueue codecs", paths: ["harness/transport/", "harness/virtqueue/"] },
  { name: "adapters", paths: ["harness/adapters/"] },
  { name: "device engine and models", paths: ["harness/models/", "harness/device_types.ts"] },
  { name: "roles", paths: ["harness/roles/"] },
  {
    name: "clause model and runner",
    paths: ["harness/core/"],
  },
  { name: "suites", paths: ["suites/"] },
  {
    name: "command line, reporters and fixtures",
    paths: [
      "harness/cli/",
      "reports/",
      "fixtures/",
      "bench/",
      "conform.ts",
      "mod.ts",
      "deno.json",
    ],
  },
];

/** The floor index of a path relative to the project root (undefined: on no floor). */
export function floorOf(path: string): number | undefined {
  const i = FLOORS.findIndex((f) => f.paths.some((p) => (p.endsWith("/") ? path.startsWith(p) : path === p)));
  return i < 0 ? undefined : i;
}

/** The relative module specifiers a module's source imports or re-exports. */
export function importsOf(source: string): string[] {
  return [...source.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)].map((m) => m[1]!);
}

/** Resolves `specifier` imported by `from` (both relative to the project root) to a root-relative path. */
export function resolveImport(from: string, specifier: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const seg of specifier.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return parts.join("/");
}

/** An import that breaks the order: a module on a floor importing from a higher one, or a module on no floor. */
export interface LayerProblem {
  from: string;
  to: string;
  why: string;
}

/** The imports among `modules` (path → source) that break the floor order. */
export function layerProblems(modules: ReadonlyMap<string, string>): LayerProblem[] {
  const problems: LayerProblem[] = [];
  for (const [from, source] of modules) {
    if (from.endsWith("_test.ts")) continue;
    const own = floorOf(from);
    if (own === undefined) {
      problems.push({ from, to: "", why: `${from} is on no floor (add it to FLOORS in harness/cli/layers.ts)` });
      continue;
    }
    for (const spec of importsOf(source)) {
      const to = resolveImport(from, spec);
      const theirs = floorOf(to);
      if (theirs === undefined) {
        problems.push({ from, to, why: `${from} imports ${to}, which is on no floor` });
      } else if (theirs > own) {
        problems.push({
          from,
          to,
          why: `${from} (${FLOORS[own]!.name}) imports ${to} (${FLOORS[theirs]!.name}), a higher floor`,
        });
      }
    }
  }
  return problems;
}
