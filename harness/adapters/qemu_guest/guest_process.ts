/**
 * One QEMU guest whose serial console the harness reads and types into
 * (`-serial stdio`) and whose trace it streams (QEMU's `log` trace backend
 * writes to stderr): the trace goes line by line into a {@link TraceFilter},
 * never into a file, and QEMU's own messages keep a short tail for errors.
 *
 * QEMU is registered with {@link killAllQemu} and started under `setpriv
 * --pdeathsig KILL` where possible; its private directory (disk images) is
 * removed when it ends. Every wait is bounded.
 *
 * @module
 */
import { TargetError } from "../../adapter.ts";
import { forgetQemu, spawnTrackedQemu } from "../qemu/qemu_process.ts";
import type { TraceFilter } from "./qemu_trace.ts";

/** How much console output a guest keeps (its tail goes into every error). */
const CONSOLE_KEEP = 64 * 1024;
/** How much of QEMU's own stderr (not trace lines) is kept. */
const STDERR_KEEP = 4096;

function isNotCapable(e: unknown): boolean {
  return e instanceof Deno.errors.PermissionDenied || (e instanceof Error && e.name === "NotCapable");
}

/** Console text without terminal escape sequences (colours, cursor moves). */
export function withoutEscapes(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

/** Printable text of the last `n` characters of `s`, one line. */
function tail(s: string, n = 600): string {
  // deno-lint-ignore no-control-regex
  return withoutEscapes(s.slice(-n)).replace(/[\r\n]+/g, " | ").replace(/[\x00-\x1f]/g, "").trim();
}

/**
 * A running guest.
 *
 * @example
 * ```ts ignore
 * const g = await GuestProcess.start("qemu-system-aarch64", args, dir, filter);
 * await g.waitFor(/=> $/, 20000, "the U-Boot prompt");
 * g.type("virtio scan\r");
 * await g.close();
 * ```
 */
export class GuestProcess {
  #console = "";
  /** Characters of console output dropped from the front of {@link #console}. */
  #dropped = 0;
  #stderr = "";
  #exited = false;
  #waiters = new Set<() => void>();
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly exited: Promise<Deno.CommandStatus>;
  readonly #drained: Promise<void>;

  private constructor(readonly child: Deno.ChildProcess, readonly dir: string, readonly filter: TraceFilter) {
    this.#writer = child.stdin.getWriter();
    const out = this.#readConsole();
    const err = this.#readTrace();
    this.#drained = Promise.all([out, err]).then(() => {});
    this.exited = child.status.then((s) => {
      this.#exited = true;
      this.#wake();
      return s;
    });
  }

  /** Spawns QEMU with `args` (its stdio piped); `dir` is removed when the guest is closed. */
  static start(binary: string, args: string[], dir: string, filter: TraceFilter): GuestProcess {
    try {
      return new GuestProcess(spawnTrackedQemu(binary, args, dir), dir, filter);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new TargetError(`QEMU binary ${binary} was not found: install it or name another binary`);
      }
      if (isNotCapable(e)) throw new TargetError(`Running ${binary} is not permitted: grant --allow-run=${binary}`);
      throw new TargetError(`Cannot start ${binary}: ${e instanceof Error ? e.message : e}`);
    }
  }

  async #readConsole(): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of this.child.stdout) {
        this.#console += dec.decode(chunk, { stream: true });
        if (this.#console.length > 2 * CONSOLE_KEEP) {
          const cut = this.#console.length - CONSOLE_KEEP;
          this.#console = this.#console.slice(cut);
          this.#dropped += cut;
        }
        this.#wake();
      }
    } catch {
      // the stream ended
    }
  }

  async #readTrace(): Promise<void> {
    const dec = new TextDecoder();
    let rest = "";
    try {
      for await (const chunk of this.child.stderr) {
        const text = rest + dec.decode(chunk, { stream: true });
        const lines = text.split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          if (!this.filter.push(line) && !/^(?:\d+@[\d.]+:)?[a-z0-9_]+ /.test(line)) {
            this.#stderr = (this.#stderr + line + "\n").slice(-STDERR_KEEP);
          }
        }
      }
    } catch {
      // the stream ended
    }
    if (rest) this.filter.push(rest);
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  /** Everything the console printed so far (up to the last 64 KiB), and where the kept text starts. */
  get console(): string {
    return this.#console;
  }

  /** The position after the last character printed so far (for {@link waitFor}'s `from`). */
  get position(): number {
    return this.#dropped + this.#console.length;
  }

  /** The console text printed since `from`. */
  since(from: number): string {
    return this.#console.slice(Math.max(0, from - this.#dropped));
  }

  /** A one-line tail of the console and of QEMU's messages, for errors. */
  describe(): string {
    const parts = [`console ends: ${tail(this.#console) || "(nothing)"}`];
    const err = tail(this.#stderr, 400);
    if (err) parts.push(`QEMU said: ${err}`);
    return parts.join("; ");
  }

  /**
   * Waits until the console text printed since `from` matches `pattern`;
   * returns that text. Throws {@link TargetError} (with the console tail) when
   * `ms` pass, the guest exits first, or `signal` aborts.
   */
  waitFor(pattern: RegExp, ms: number, what: string, from = 0, signal?: AbortSignal): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new TargetError(`The guest did not show ${what} within ${ms} ms: ${this.describe()}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        signal?.removeEventListener("abort", onAbort);
      };
      const check = () => {
        const text = this.since(from);
        if (pattern.test(text)) {
          done();
          resolve(text);
        } else if (this.#exited) {
          done();
          reject(new TargetError(`The guest ended before ${what}: ${this.describe()}`));
        }
      };
      const onAbort = () => {
        done();
        reject(signal?.reason ?? new Error("aborted"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(check);
      check();
    });
  }

  /** Types `text` on the serial console. */
  async type(text: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(text));
  }

  /**
   * Types `command` and Enter at a prompt and waits (`ms` at most) until `prompt` shows again; returns what the
   * console printed since the command was typed.
   */
  async command(command: string, prompt: RegExp, ms: number, what: string, signal?: AbortSignal): Promise<string> {
    const from = this.position;
    await this.type(`${command}\r`);
    return await this.waitFor(prompt, ms, what, from, signal);
  }

  /** Kills QEMU if it still runs, waits for its streams, removes its directory. Idempotent. */
  async close(): Promise<void> {
    if (!this.#exited) {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    await this.exited.catch(() => {});
    forgetQemu(this.child);
    await this.#writer.close().catch(() => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#drained, new Promise((r) => timer = setTimeout(r, 2000))]);
    clearTimeout(timer);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
