import { assert, assertEquals } from "@std/assert";
import { FLOORS, importsOf, layerProblems } from "./layers.ts";

/** Every TypeScript module of the project (relative paths), with its source. */
async function modules(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir === "" ? "." : dir)) {
      const path = dir === "" ? e.name : `${dir}/${e.name}`;
      if (e.name.startsWith(".") || e.name === "node_modules") continue;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) out.set(path, await Deno.readTextFile(path));
    }
  };
  await walk("");
  return out;
}

Deno.test("layers: every module imports only from its own floor or lower ones", async () => {
  const all = await modules();
  const imports = [...all.values()].reduce((n, src) => n + importsOf(src).length, 0);
  // Not vacuous: the walk saw the tree.
  assert(all.size > 150 && imports > 700, `${all.size} modules, ${imports} imports`);
  assertEquals(layerProblems(all).map((p) => p.why), []);
});

Deno.test("layers: an upward import or a module on no floor is reported", () => {
  const tree = new Map([
    ["harness/memory.ts", 'import { runTarget } from "./core/runner.ts";\nexport const x = 1;'],
    ["harness/core/runner.ts", 'import {\n  a,\n  b,\n} from "../memory.ts";'],
    ["harness/new_thing.ts", ""],
    ["harness/core/runner_test.ts", 'import "../../suites/mod.ts";'],
  ]);
  assertEquals(layerProblems(tree).map((p) => p.why), [
    "harness/memory.ts (helpers) imports harness/core/runner.ts (clause model and runner), a higher floor",
    "harness/new_thing.ts is on no floor (add it to FLOORS in harness/cli/layers.ts)",
  ]);
});

Deno.test("layers: imports are read across lines, comments' examples are not imports", () => {
  const src = ' * import { x } from "../nope.ts";\nimport type {\n  A,\n} from "./a.ts";\nexport { b } from "../b.ts";';
  assertEquals(importsOf(src), ["./a.ts", "../b.ts"]);
  assertEquals(FLOORS.length, 9);
});
