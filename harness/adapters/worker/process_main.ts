/**
 * The entry point of a child `deno` process that runs a user's in-process
 * module (started by `process_link.ts`). Frames (see `frame.ts`) come on
 * standard input and go out on standard output; whatever the module logs is
 * sent to standard error instead, so it cannot break the frames. The process
 * ends when its input ends (the harness is gone).
 *
 * @module
 */
import { encodeFrame, type Frame, FrameReader } from "./frame.ts";
import { serveModule } from "./module_host.ts";

const realExit = Deno.exit.bind(Deno);
const stdout = Deno.stdout;
const writeOut = stdout.writeSync.bind(stdout);
const toStderr = (...args: unknown[]) => console.error(...args);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;
console.dir = toStderr;
console.table = toStderr;
stdout.write = (p: Uint8Array) => Deno.stderr.write(p);
stdout.writeSync = (p: Uint8Array) => Deno.stderr.writeSync(p);

let handler: (frame: Frame) => void = () => {};
serveModule({
  send(frame) {
    const bytes = encodeFrame(frame);
    for (let at = 0; at < bytes.length;) at += writeOut(bytes.subarray(at));
  },
  listen: (h) => handler = h,
});

const reader = new FrameReader();
for await (const chunk of Deno.stdin.readable) {
  for (const frame of reader.push(chunk)) handler(frame);
}
realExit(0);
