/** The vhost-user back end process: placeholders, readiness, a back end that ends or never gets ready. */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { TargetError } from "../../adapter.ts";
import { backEndArgv, BackEndProcess } from "./back_end.ts";
import { programAvailable } from "./qemu_process.ts";

Deno.test("backEndArgv: {socket}, {dir} and {disk} become paths in the private directory", () => {
  assertEquals(
    backEndArgv({ argv: ["d", "--path={socket}", "--dir", "{dir}", "file={disk},x={disk}"] }, "/t/q-1"),
    ["d", "--path=/t/q-1/vhost.sock", "--dir", "/t/q-1", "file=/t/q-1/drive0.raw,x=/t/q-1/drive0.raw"],
  );
});

const qsd = await programAvailable("qemu-storage-daemon");

Deno.test({
  name: "BackEndProcess: one that ends before its socket, or never makes it, is one sentence with its output",
  ignore: !qsd,
  async fn() {
    const dir = await Deno.makeTempDir({ dir: await tempRoot(), prefix: "backend-" });
    try {
      const ended = await assertRejects(
        () => BackEndProcess.start({ argv: ["qemu-storage-daemon", "--version", "{socket}"] }, dir),
        TargetError,
        "ended before it created its socket",
      );
      assert(ended.message.includes("qemu-storage-daemon version"), ended.message);
      const t0 = performance.now();
      await assertRejects(
        () =>
          BackEndProcess.start({
            argv: ["qemu-storage-daemon", "--blockdev", "driver=null-co,node-name=n0", "--", "{socket}"],
            readyTimeoutMs: 300,
          }, dir),
        TargetError,
        "did not create its socket within 300 ms",
      );
      assert(performance.now() - t0 < 5000, "bounded: the back end is stopped after the deadline");
      const ready = await BackEndProcess.start({
        argv: [
          "qemu-storage-daemon",
          "--blockdev",
          "driver=null-co,node-name=n0",
          "--export",
          "type=vhost-user-blk,id=e0,node-name=n0,addr.type=unix,addr.path={socket}",
        ],
      }, dir);
      assert((await Deno.stat(ready.socket)).isSocket);
      assert(ready.describe().includes("is still running"));
      await ready.close();
      await ready.close();
      assert(ready.status !== undefined, "stopped by close");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

async function tempRoot(): Promise<string> {
  await Deno.mkdir("reports/tmp", { recursive: true });
  return "reports/tmp";
}
