/**
 * One QEMU process driven over qtest. The harness listens on an ephemeral
 * TCP port of the loopback interface and QEMU connects to it (`-qtest
 * tcp:127.0.0.1:<port> -qtest-log /dev/null`), so any number of harness
 * processes can run at once; QMP runs over QEMU's stdin/stdout (`-chardev
 * stdio` + `-mon mode=control`); QEMU boots a halt-loop firmware (see
 * `halt_firmware.ts`) with `-display none -nodefaults` and the machine
 * arguments. QEMU's stderr is kept (its tail goes into every error). The
 * private temporary directory (firmware, disk images) is removed as soon as
 * QEMU is up: QEMU keeps what it opened, and nothing is left behind.
 *
 * No QEMU outlives the harness: every running QEMU is in a registry that
 * {@link killAllQemu} empties (the command line's signal handlers call it),
 * and where util-linux's `setpriv` is on the PATH QEMU is started under
 * `setpriv --pdeathsig KILL`, so the kernel kills it when the harness dies,
 * even by SIGKILL.
 *
 * @module
 */
import { spawnTied } from "../tied_child.ts";
import { TargetError } from "../../adapter.ts";
import { type HaltArch, haltFirmware } from "./halt_firmware.ts";
import { QmpClient } from "./qmp_client.ts";
import { type ByteStream, QtestClient } from "./qtest_client.ts";
import { BACK_END_CHARDEV, BackEndProcess, type BackEndSpec } from "./back_end.ts";

/** Where temporary files go unless told otherwise (inside `--allow-write=reports`). */
export const DEFAULT_TEMP_ROOT = "reports/tmp";

/** True when `binary --version` runs (needs only the --allow-run grant the adapters need anyway). */
export async function programAvailable(binary: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(binary, { args: ["--version"], stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** The programs the QEMU adapters run: QEMU for each machine, and `setpriv` (QEMU dies with the harness). */
export const QEMU_PROGRAMS: readonly string[] = ["qemu-system-aarch64", "qemu-system-x86_64", "setpriv"];

/** The address the qtest listener binds (`--allow-net=127.0.0.1`). */
export const QTEST_HOST = "127.0.0.1";

/** Every QEMU this process started and has not yet closed, with its private directory. */
const RUNNING = new Map<Deno.ChildProcess, string>();

/**
 * Kills every QEMU this process started (SIGKILL) and removes their private
 * directories, synchronously: for signal handlers and exit paths. Returns how
 * many were killed.
 */
export function killAllQemu(): number {
  let n = 0;
  for (const [child, dir] of RUNNING) {
    try {
      child.kill("SIGKILL");
      n++;
    } catch {
      // already gone
    }
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already removed, or not permitted
    }
  }
  RUNNING.clear();
  return n;
}

/**
 * True when `binary --version` runs: whether a QEMU binary is installed (tests
 * and benches skip, with a message, when it is not).
 *
 * @example
 * ```ts ignore
 * import { installed } from "./qemu_process.ts";
 * if (!await installed("qemu-system-aarch64")) console.warn("skipped: QEMU is not installed");
 * ```
 */
export async function installed(binary: string): Promise<boolean> {
  try {
    const out = await new Deno.Command(binary, { args: ["--version"], stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** How many QEMU processes this process started and has not yet closed or killed. */
export function runningQemu(): number {
  return RUNNING.size;
}

/** The private directories of QEMU runs still under {@link DEFAULT_TEMP_ROOT} (a test checks none is left behind). */
export async function qemuTempDirs(): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(DEFAULT_TEMP_ROOT)) if (e.name.startsWith("qemu-")) names.push(e.name);
  } catch {
    // no temp root yet
  }
  return names.sort();
}

/** How to launch QEMU. */
export interface QemuLaunchOptions {
  /** The QEMU system emulator, e.g. `qemu-system-aarch64` (looked up on PATH). */
  binary: string;
  /**
   * Machine and device arguments (everything but the qtest/QMP/firmware/display ones); `{dir}` in one names the
   * run's private directory.
   */
  args: string[];
  /** Boot a halt-loop firmware for this architecture (`-bios`). */
  firmware?: HaltArch;
  /** Where the private temporary directory goes (default {@link DEFAULT_TEMP_ROOT}). */
  tempRoot?: string;
  /** Deadline for QEMU to start and connect, in milliseconds (default 15000). */
  startTimeoutMs?: number;
  /** Deadline of one qtest command (default 5000). */
  commandTimeoutMs?: number;
  /** Post qtest writes (`QtestClientOptions.postWrites`; default false). */
  postWrites?: boolean;
  /**
   * Prepares files in the private directory before QEMU starts (e.g. disk
   * images); returns more arguments for QEMU.
   */
  prepare?(dir: string): Promise<string[]>;
  /**
   * A vhost-user back end to start (after {@link prepare}, before QEMU) in the private directory; QEMU gets
   * `-chardev socket,id=vhost0,path=<its socket>`. It stops with QEMU.
   */
  backEnd?: BackEndSpec;
}

const STDERR_TAIL = 4096;

function isNotCapable(e: unknown): boolean {
  return e instanceof Deno.errors.PermissionDenied || (e instanceof Error && e.name === "NotCapable");
}

/** Listens on an ephemeral loopback port for QEMU's qtest connection. */
function listenLoopback(): Deno.TcpListener {
  try {
    return Deno.listen({ hostname: QTEST_HOST, port: 0, transport: "tcp" });
  } catch (e) {
    if (isNotCapable(e)) {
      throw new TargetError(`Listening for QEMU's qtest connection is not permitted: grant --allow-net=${QTEST_HOST}`);
    }
    throw new TargetError(
      `Cannot listen on ${QTEST_HOST} for QEMU's qtest connection: ${e instanceof Error ? e.message : e}`,
    );
  }
}

/**
 * Spawns QEMU with piped stdio, under `setpriv --pdeathsig KILL` when that is
 * allowed and present, and registers it with its private directory so that
 * {@link killAllQemu} reaches it; {@link forgetQemu} once it has exited.
 *
 * @example
 * ```ts ignore
 * const child = spawnTrackedQemu("qemu-system-aarch64", ["-M", "virt"], dir);
 * await child.status;
 * forgetQemu(child);
 * ```
 */
export function spawnTrackedQemu(binary: string, args: string[], dir: string): Deno.ChildProcess {
  const child = spawnQemu(binary, args);
  RUNNING.set(child, dir);
  return child;
}

/** Removes a QEMU that has exited from the registry of {@link killAllQemu}. */
export function forgetQemu(child: Deno.ChildProcess): void {
  RUNNING.delete(child);
}

/** Spawns QEMU, under `setpriv --pdeathsig KILL` when that is allowed and present. */
function spawnQemu(binary: string, args: string[]): Deno.ChildProcess {
  return spawnTied(binary, args, { stdin: "piped", stdout: "piped", stderr: "piped" });
}

function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => timer = setTimeout(() => reject(onTimeout()), ms));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** QEMU's stdin and stdout as one {@link ByteStream} (for QMP). */
function stdioStream(child: Deno.ChildProcess): ByteStream {
  const reader = child.stdout.getReader();
  const writer = child.stdin.getWriter();
  let rest: Uint8Array | undefined;
  return {
    async read(p) {
      if (!rest || rest.length === 0) {
        const r = await reader.read();
        if (r.done) return null;
        rest = r.value;
      }
      const n = Math.min(p.length, rest.length);
      p.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return n;
    },
    async write(p) {
      await writer.write(p);
      return p.length;
    },
    close() {
      reader.cancel().catch(() => {});
      writer.close().catch(() => {});
    },
  };
}

/**
 * A running QEMU with its qtest and QMP connections.
 *
 * @example
 * ```ts ignore
 * const qemu = await QemuProcess.start({
 *   binary: "qemu-system-aarch64",
 *   firmware: "aarch64",
 *   args: ["-M", "virt", "-cpu", "cortex-a57", "-m", "128M", "-device", "virtio-rng-device"],
 * });
 * console.log((await qemu.qtest.readl(0x0a00_3e00)).toString(16)); // "74726976"
 * await qemu.close();
 * ```
 */
export class QemuProcess {
  readonly #readStderr: () => string;
  #status: Deno.CommandStatus | undefined;
  #closed = false;
  /** Resolves with QEMU's exit status (once stderr has been read to the end). */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Milliseconds from spawning QEMU to both connections being up. */
  startMs = 0;

  private constructor(
    readonly child: Deno.ChildProcess,
    readonly dir: string,
    /** The command line QEMU was started with (for messages). */
    readonly commandLine: string,
    readonly qtest: QtestClient,
    readonly qmp: QmpClient,
    readStderr: () => string,
    stderrDone: Promise<void>,
    /** The vhost-user back end started with it, if any. */
    readonly backEnd?: BackEndProcess,
  ) {
    this.#readStderr = readStderr;
    this.exited = child.status.then(async (s) => {
      this.#status = s;
      await withDeadline(stderrDone, 1000, () => new Error("stderr")).catch(() => {});
      return s;
    });
  }

  /** The exit status once QEMU has exited. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** The last few KiB QEMU wrote to stderr, trimmed. */
  stderrTail(): string {
    return this.#readStderr().trim();
  }

  /** How QEMU ended (or that it runs), with its stderr tail: a sentence fragment for messages. */
  describe(): string {
    const s = this.#status;
    const how = s === undefined
      ? "QEMU is still running"
      : s.signal
      ? `QEMU was killed by ${s.signal}`
      : `QEMU exited with code ${s.code}`;
    const tail = this.stderrTail();
    const back = this.backEnd ? `; ${this.backEnd.describe()}` : "";
    return (tail ? `${how}; its stderr ends: ${tail.split("\n").slice(-8).join(" | ")}` : `${how}; no stderr output`) +
      back;
  }

  /** Starts QEMU and connects to it; throws {@link TargetError} when it cannot. */
  static async start(options: QemuLaunchOptions): Promise<QemuProcess> {
    const root = options.tempRoot ?? DEFAULT_TEMP_ROOT;
    const started = performance.now();
    let dir: string;
    try {
      await Deno.mkdir(root, { recursive: true });
      dir = await Deno.makeTempDir({ dir: root, prefix: "qemu-" });
    } catch (e) {
      throw new TargetError(
        `Cannot create a temporary directory for QEMU under ${root}: ${e instanceof Error ? e.message : e}`,
      );
    }
    let listener: Deno.TcpListener | undefined;
    let child: Deno.ChildProcess | undefined;
    let backEnd: BackEndProcess | undefined;
    try {
      // `{dir}` in an argument names the run's private directory (absolute), e.g. a 9p export or a socket path.
      const where = await Deno.realPath(dir);
      const args = options.args.map((a) => a.replaceAll("{dir}", where));
      if (options.firmware) {
        const fw = `${dir}/halt-${options.firmware}.bin`;
        await Deno.writeFile(fw, haltFirmware(options.firmware));
        args.push("-bios", fw);
      }
      if (options.prepare) args.push(...await options.prepare(dir));
      if (options.backEnd) {
        backEnd = await BackEndProcess.start(options.backEnd, dir);
        RUNNING.set(backEnd.child, dir);
        args.push("-chardev", `socket,id=${BACK_END_CHARDEV},path=${backEnd.socket}`);
      }
      listener = listenLoopback();
      const port = (listener.addr as Deno.NetAddr).port;
      const full = [
        "-qtest",
        // nodelay: qtest is one small command and one small reply at a time; with Nagle's algorithm
        // each exchange waits out the peer's delayed acknowledgement (about 40 ms).
        `tcp:${QTEST_HOST}:${port},nodelay=on`,
        "-qtest-log",
        "/dev/null",
        "-chardev",
        "stdio,id=qmp0",
        "-mon",
        "chardev=qmp0,mode=control",
        "-display",
        "none",
        "-nodefaults",
        ...args,
      ];
      const commandLine = [options.binary, ...full].join(" ");
      try {
        child = spawnQemu(options.binary, full);
        RUNNING.set(child, dir);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new TargetError(`QEMU binary ${options.binary} was not found: install it or name another binary`);
        }
        if (isNotCapable(e)) {
          throw new TargetError(`Running ${options.binary} is not permitted: grant --allow-run=${options.binary}`);
        }
        throw new TargetError(`Cannot start ${options.binary}: ${e instanceof Error ? e.message : e}`);
      }
      const proc = child;
      let stderr = "";
      const stderrDone = (async () => {
        const dec = new TextDecoder();
        try {
          for await (const chunk of proc.stderr) {
            stderr = (stderr + dec.decode(chunk, { stream: true })).slice(-STDERR_TAIL);
          }
        } catch {
          // the stream ended
        }
      })();
      const tail = () => stderr.trim().split("\n").slice(-8).join(" | ") || "no stderr output";
      const timeoutMs = options.startTimeoutMs ?? 15000;
      const accept = listener.accept();
      accept.catch(() => {});
      const conn = await withDeadline(
        Promise.race([
          accept,
          proc.status.then(async (exit) => {
            await withDeadline(stderrDone, 1000, () => new Error("stderr")).catch(() => {});
            const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
            const back = backEnd ? `; ${backEnd.describe()}` : "";
            throw new TargetError(`QEMU ${how} before connecting: ${tail()}${back} (command: ${commandLine})`);
          }),
        ]),
        timeoutMs,
        () => new TargetError(`QEMU did not connect to the qtest port within ${timeoutMs} ms: ${tail()}`),
      );
      listener.close();
      listener = undefined;
      if ("setNoDelay" in conn && typeof conn.setNoDelay === "function") (conn as Deno.TcpConn).setNoDelay(true);
      const qtest = new QtestClient(
        conn,
        {
          ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
          postWrites: options.postWrites ?? false,
        },
      );
      const qmp = new QmpClient(stdioStream(proc));
      const qemu = new QemuProcess(proc, dir, commandLine, qtest, qmp, () => stderr, stderrDone, backEnd);
      try {
        await qmp.handshake(timeoutMs);
      } catch (e) {
        await qemu.close();
        const back = backEnd ? `; ${backEnd.describe()}` : "";
        throw new TargetError(
          `QEMU's QMP monitor did not come up: ${e instanceof Error ? e.message : e}: ${tail()}${back}`,
        );
      }
      // QEMU has read its firmware and opened its images by now: the directory can go, so that nothing is left
      // behind even when the harness is killed outright (an open image lives on until QEMU closes it).
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      qemu.startMs = performance.now() - started;
      return qemu;
    } catch (e) {
      listener?.close();
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
        await child.status.catch(() => {});
        RUNNING.delete(child);
      }
      if (backEnd) {
        await backEnd.close();
        RUNNING.delete(backEnd.child);
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw e instanceof TargetError ? e : new TargetError(`Cannot start QEMU: ${e instanceof Error ? e.message : e}`);
    }
  }

  /**
   * Stops QEMU (SIGTERM, then SIGKILL after a deadline), closes the
   * connections and removes the temporary directory. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.qtest.close().catch(() => {});
    if (this.#status === undefined) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // already gone
      }
      try {
        await withDeadline(this.exited, 2000, () => new Error("no exit"));
      } catch {
        try {
          this.child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    await this.exited.catch(() => {});
    RUNNING.delete(this.child);
    if (this.backEnd) {
      await this.backEnd.close();
      RUNNING.delete(this.backEnd.child);
    }
    await this.qmp.close().catch(() => {});
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
