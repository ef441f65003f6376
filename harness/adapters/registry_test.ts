import { assert, assertEquals, assertThrows } from "@std/assert";
import { parse as parseJsonc } from "@std/jsonc";
import { UsageError } from "../options.ts";
import { ADAPTER_REGISTRY, adapterNamed, cleanupAdapters } from "./registry.ts";

Deno.test("adapter registry: unique names, each found by name, each refusing a role it does not take", () => {
  const names = ADAPTER_REGISTRY.map((a) => a.name);
  assertEquals(new Set(names).size, names.length);
  for (const a of ADAPTER_REGISTRY) {
    assertEquals(adapterNamed(a.name), a);
    assert(a.roles.length > 0, `${a.name} takes no role`);
    for (const role of (["device", "driver"] as const).filter((r) => !a.roles.includes(r))) {
      assertThrows(() => a.check(role, {}, "target x"), UsageError, `target x: the ${a.name} adapter`);
    }
    assertThrows(() => a.check(a.roles[0], "not an object", "target x"), UsageError, "target x: ");
  }
  assertEquals(adapterNamed("no-such-adapter"), undefined);
});

Deno.test("adapter registry: the conform and test permission sets allow every program an adapter runs", async () => {
  const config = parseJsonc(await Deno.readTextFile("deno.json")) as {
    permissions: Record<string, { run?: string[] }>;
  };
  for (const set of ["conform", "test"]) {
    const run = config.permissions[set]?.run ?? [];
    for (const a of ADAPTER_REGISTRY) {
      for (const p of a.programs) assert(run.includes(p), `permission set ${set} does not allow ${p} (${a.name})`);
    }
  }
});

Deno.test("adapter registry: cleanup with nothing started stops nothing", () => {
  assertEquals(cleanupAdapters(), 0);
});
