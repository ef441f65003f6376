/**
 * A vhost-user back end the QEMU adapter starts beside QEMU: the process that
 * serves the device's rings (qemu-storage-daemon, virtiofsd, a rust-vmm
 * `vhost-device-*`, a user's own daemon) while QEMU's front end keeps the
 * transport registers. The target file names its command line with
 * placeholders: `{socket}` (the unix socket QEMU connects to, in the run's
 * private directory), `{dir}` (that directory) and `{disk}` (the disk image
 * the adapter created there, with `driveMiB`). The back end is ready once its
 * socket exists; it is stopped (SIGTERM, then SIGKILL) with QEMU, and like
 * QEMU it runs under `setpriv --pdeathsig KILL` where that is present.
 *
 * @module
 */
import { spawnTied } from "../tied_child.ts";
import { TargetError } from "../../adapter.ts";
import { errorText } from "../../text.ts";

/** What a target file says about its back end. */
export interface BackEndSpec {
  /** The program and its arguments, with `{socket}`, `{dir}` and `{disk}` placeholders. */
  argv: string[];
  /** More environment variables for it. */
  env?: Record<string, string>;
  /** How long it may take to create its socket (default 10000 ms). */
  readyTimeoutMs?: number;
}

/** QEMU's chardev id of the back end's socket (`-chardev socket,id=vhost0,path=…`). */
export const BACK_END_CHARDEV = "vhost0";

/** The placeholders of {@link BackEndSpec.argv}. */
export const BACK_END_PLACEHOLDERS: readonly string[] = ["{socket}", "{dir}", "{disk}"];

const STDERR_TAIL = 4096;

/** The back end's command line with the placeholders filled in for the private directory `dir`. */
export function backEndArgv(spec: BackEndSpec, dir: string): string[] {
  return spec.argv.map((a) =>
    a.replaceAll("{socket}", `${dir}/vhost.sock`).replaceAll("{dir}", dir).replaceAll("{disk}", `${dir}/drive0.raw`)
  );
}

/**
 * A running back end.
 *
 * @example
 * ```ts ignore
 * const b = await BackEndProcess.start({ argv: ["qemu-storage-daemon", "…", "addr.path={socket}"] }, dir);
 * console.log(b.socket);
 * await b.close();
 * ```
 */
export class BackEndProcess {
  #stderr = "";
  #status: Deno.CommandStatus | undefined;
  #closed = false;
  readonly exited: Promise<Deno.CommandStatus>;

  private constructor(
    readonly child: Deno.ChildProcess,
    readonly program: string,
    readonly socket: string,
  ) {
    const dec = new TextDecoder();
    const drained = (async () => {
      try {
        for await (const chunk of child.stderr) {
          this.#stderr = (this.#stderr + dec.decode(chunk, { stream: true })).slice(-STDERR_TAIL);
        }
      } catch {
        // the stream ended
      }
    })();
    // Its standard output goes to the same tail (daemons log on either).
    (async () => {
      try {
        for await (const chunk of child.stdout) {
          this.#stderr = (this.#stderr + dec.decode(chunk, { stream: true })).slice(-STDERR_TAIL);
        }
      } catch {
        // the stream ended
      }
    })();
    this.exited = child.status.then(async (s) => {
      this.#status = s;
      await Promise.race([drained, new Promise((r) => setTimeout(r, 500))]);
      return s;
    });
  }

  /** Starts the back end in `dir` and waits until its socket exists; throws {@link TargetError} when it cannot. */
  static async start(spec: BackEndSpec, dir: string): Promise<BackEndProcess> {
    // Absolute paths: a back end may change its working directory (virtiofsd chroots into its shared directory).
    dir = await Deno.realPath(dir);
    const [program, ...args] = backEndArgv(spec, dir);
    if (!program) throw new TargetError("The back end's argv is empty");
    const io = { stdin: "null", stdout: "piped", stderr: "piped", env: spec.env ?? {} } as const;
    let child: Deno.ChildProcess;
    try {
      child = spawnTied(program, args, io);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new TargetError(`The back end ${program} was not found: install it or name another program`);
      }
      if (e instanceof Deno.errors.PermissionDenied || (e instanceof Error && e.name === "NotCapable")) {
        throw new TargetError(`Running the back end ${program} is not permitted: grant --allow-run=${program}`);
      }
      throw new TargetError(`Cannot start the back end ${program}: ${errorText(e)}`);
    }
    const b = new BackEndProcess(child, program, `${dir}/vhost.sock`);
    const limit = spec.readyTimeoutMs ?? 10_000;
    const deadline = Date.now() + limit;
    for (;;) {
      try {
        if ((await Deno.stat(b.socket)).isSocket) return b;
      } catch {
        // not there yet
      }
      if (b.#status !== undefined) {
        await b.exited;
        throw new TargetError(`The back end ${program} ended before it created its socket: ${b.describe()}`);
      }
      if (Date.now() > deadline) {
        await b.close();
        throw new TargetError(`The back end ${program} did not create its socket within ${limit} ms: ${b.describe()}`);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** The exit status once it has ended. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /** What it wrote last (stdout and stderr), trimmed. */
  outputTail(): string {
    return this.#stderr.trim();
  }

  /** How the back end ended (or that it runs), with its output's tail: a fragment for messages. */
  describe(): string {
    const s = this.#status;
    const how = s === undefined
      ? `the back end ${this.program} is still running`
      : s.signal
      ? `the back end ${this.program} was killed by ${s.signal}`
      : `the back end ${this.program} exited with code ${s.code}`;
    const tail = this.outputTail();
    return tail ? `${how}; its output ends: ${tail.split("\n").slice(-6).join(" | ")}` : `${how}; no output`;
  }

  /** Stops it (SIGTERM, SIGKILL after 2 s). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#status === undefined) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // already gone
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stopped = await Promise.race([
        this.exited.then(() => true),
        new Promise<boolean>((r) => timer = setTimeout(() => r(false), 2000)),
      ]);
      clearTimeout(timer);
      if (!stopped) {
        try {
          this.child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    await this.exited.catch(() => {});
  }
}
