/**
 * The harness side of a child `deno` process that runs a user's module
 * (`process_main.ts`): it starts the child with its own heap limit and no
 * permission but reading the module's folder and the suite, and carries
 * frames (see `frame.ts`) on its standard input and output. Whatever ends the child (heap exhausted,
 * `Deno.exit`, a crash, a kill) is told to the owner as one sentence with the
 * tail of the child's standard error.
 *
 * @module
 */
import { spawnTied } from "../tied_child.ts";
import { encodeFrame, type Frame, FrameReader } from "./frame.ts";
import { errorText } from "../../text.ts";

/** The default heap limit of a module's child process, in MiB. */
export const DEFAULT_MODULE_HEAP_MIB = 512;

/** How a module's child process is started. */
export interface ProcessOptions {
  /** V8's old-space limit, in MiB (default {@link DEFAULT_MODULE_HEAP_MIB}). */
  heapMiB?: number;
  /** Paths the child may read (the module's folder and whatever it imports). */
  read: readonly string[];
}

/** The `deno` the child runs when the harness's own cannot be started (looked up on PATH; what `--allow-run` names). */
export const DENO_PROGRAM = "deno";

/**
 * Starts the harness's own `deno` (under `setpriv`, which `--allow-run=setpriv` lets start any path), else `deno`
 * from PATH.
 */
function spawnDeno(args: string[], io: Omit<Deno.CommandOptions, "args">): Deno.ChildProcess {
  try {
    return spawnTied(Deno.execPath(), args, io);
  } catch {
    return spawnTied(DENO_PROGRAM, args, io);
  }
}

const STDERR_TAIL = 2048;
const MAIN = new URL("./process_main.ts", import.meta.url);

/** One child process and the frames to and from it. */
export class ProcessLink {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly heapMiB: number;
  #tail = "";
  #gone = false;
  /** Settles once the child has exited and its output is read. */
  readonly exited: Promise<void>;

  /** Starts the child; `onFrame` gets each frame, `onDeath` why the child is gone (once). */
  constructor(
    options: ProcessOptions,
    readonly onFrame: (frame: Frame) => void,
    readonly onDeath: (cause: string) => void,
  ) {
    this.heapMiB = options.heapMiB ?? DEFAULT_MODULE_HEAP_MIB;
    const args = [
      "run",
      "--no-prompt",
      "--quiet",
      `--v8-flags=--max-old-space-size=${this.heapMiB}`,
      ...(options.read.length ? [`--allow-read=${options.read.join(",")}`] : []),
      decodeURIComponent(MAIN.pathname),
    ];
    const child = spawnDeno(args, { stdin: "piped", stdout: "piped", stderr: "piped", env: { NO_COLOR: "1" } });
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    const out = this.#readFrames();
    const err = this.#readStderr();
    this.exited = (async () => {
      const status = await child.status;
      await Promise.all([out, err]);
      this.#die(this.#describe(status));
    })();
  }

  /** Sends a frame. */
  post(frame: Frame): void {
    if (this.#gone) return;
    this.#writer.write(encodeFrame(frame)).catch(() => {
      // The child is gone: its exit says why.
    });
  }

  /** Kills the child. */
  terminate(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }

  #die(cause: string): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#writer.close().catch(() => {});
    this.onDeath(cause);
  }

  async #readFrames(): Promise<void> {
    const reader = new FrameReader();
    try {
      for await (const chunk of this.#child.stdout) {
        if (this.#gone) continue;
        for (const frame of reader.push(chunk)) this.onFrame(frame);
      }
    } catch (e) {
      this.#die(`it wrote to its standard output something that is not a frame (${errorText(e)})`);
      this.terminate();
    }
  }

  async #readStderr(): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of this.#child.stderr) {
        this.#tail = (this.#tail + decoder.decode(chunk, { stream: true })).slice(-STDERR_TAIL);
      }
    } catch {
      // closed
    }
  }

  #describe(status: Deno.CommandStatus): string {
    const tail = this.#tail.trim();
    // Stack frames say little here: the last lines that are not frames.
    const lines = tail.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("at "));
    const said = lines.length ? `; its standard error ends: ${lines.slice(-4).join(" | ")}` : "";
    if (/heap limit|out of memory/i.test(tail)) {
      return `it ran out of memory (its heap limit is ${this.heapMiB} MiB)${said}`;
    }
    if (status.signal) return `its process was ended by ${status.signal}${said}`;
    return `its process exited with status ${status.code}${said}`;
  }
}
