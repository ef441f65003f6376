import { assert, assertEquals } from "@std/assert";
import { setImmediate } from "node:timers";
import { realClock, VirtualClock } from "./clock.ts";

const turn = () => new Promise<void>((r) => setImmediate(r));

Deno.test("VirtualClock: a long sleep costs no wall-clock time", async () => {
  const clock = new VirtualClock({ activity: () => 0 });
  const start = Date.now();
  await clock.sleep(3_600_000);
  assertEquals(clock.now(), 3_600_000);
  assert(Date.now() - start < 1000, `took ${Date.now() - start} ms`);
  clock.dispose();
});

Deno.test("VirtualClock: time stands still while there is activity, and moves once it stops", async () => {
  let count = 0;
  const clock = new VirtualClock({ activity: () => count });
  const order: string[] = [];
  const timer = clock.sleep(10).then(() => order.push(`timer at ${clock.now()}`));
  // Work spread over many turns of the event loop, touching something at each.
  for (let i = 0; i < 50; i++) {
    count++;
    await turn();
  }
  order.push(`work done at ${clock.now()}`);
  await timer;
  assertEquals(order, ["work done at 0", "timer at 10"]);
  clock.dispose();
});

Deno.test("VirtualClock: timers fire in the order they are due; cleared timers never fire", async () => {
  const clock = new VirtualClock({ activity: () => 0 });
  const fired: string[] = [];
  clock.setTimer(() => fired.push("c30"), 30);
  const b = clock.setTimer(() => fired.push("b20"), 20);
  clock.setTimer(() => fired.push("a10"), 10);
  clock.setTimer(() => fired.push("a10-second"), 10);
  clock.clearTimer(b);
  await clock.sleep(40);
  assertEquals(fired, ["a10", "a10-second", "c30"]);
  clock.dispose();
});

Deno.test("VirtualClock: a repeating timer fires at each period until cleared", async () => {
  const clock = new VirtualClock({ activity: () => 0 });
  const at: number[] = [];
  const t = clock.setRepeating(() => at.push(clock.now()), 5);
  await clock.sleep(22);
  clock.clearTimer(t);
  await clock.sleep(20);
  assertEquals(at, [5, 10, 15, 20]);
  clock.dispose();
});

Deno.test("VirtualClock: after dispose nothing fires and nothing is pending", async () => {
  const clock = new VirtualClock({ activity: () => 0 });
  let fired = 0;
  clock.setTimer(() => fired++, 1);
  clock.dispose();
  clock.setTimer(() => fired++, 1);
  for (let i = 0; i < 20; i++) await turn();
  assertEquals(fired, 0);
  assertEquals(clock.pending, 0);
});

Deno.test("VirtualClock: a timer callback that throws does not stop the clock", async () => {
  const clock = new VirtualClock({ activity: () => 0 });
  const errors: unknown[] = [];
  const onError = (e: ErrorEvent) => {
    errors.push(e.error);
    e.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  try {
    clock.setTimer(() => {
      throw new Error("boom");
    }, 1);
    await clock.sleep(5);
    assertEquals(clock.now(), 5);
  } finally {
    globalThis.removeEventListener("error", onError);
    clock.dispose();
  }
});

Deno.test("realClock: sleeps and timers in wall-clock time", async () => {
  const start = realClock.now();
  await realClock.sleep(5);
  assert(realClock.now() - start >= 4);
  let fired = 0;
  const t = realClock.setTimer(() => fired++, 1);
  realClock.clearTimer(t);
  const r = realClock.setRepeating(() => fired++, 1);
  await realClock.sleep(10);
  realClock.clearTimer(r);
  const seen = fired;
  await realClock.sleep(5);
  assert(seen >= 1, `the repeating timer fired ${seen} times`);
  assertEquals(fired, seen);
});
