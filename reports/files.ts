/**
 * Small path helpers shared by the report writers.
 *
 * @module
 */

/** The directory part of a path (`""` when there is none). */
export function dirnameOf(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (i < 0) return "";
  if (i === 0) return "/";
  return path.slice(0, i);
}

/** A private name beside `path` for writing before the rename. */
function tempBeside(path: string): string {
  return `${path}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * Writes `text` to `path` atomically: into a temporary file beside it, then
 * renamed over it, so a reader (or a run interrupted mid-write) never sees a
 * half-written report. Creates the directory if missing.
 *
 * @example
 * ```ts ignore
 * await writeTextAtomic("reports/latest.json", "{}\n");
 * ```
 */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const dir = dirnameOf(path);
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const tmp = tempBeside(path);
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** {@link writeTextAtomic}, synchronously (for signal handlers and exit paths). */
export function writeTextAtomicSync(path: string, text: string): void {
  const dir = dirnameOf(path);
  if (dir) Deno.mkdirSync(dir, { recursive: true });
  const tmp = tempBeside(path);
  try {
    Deno.writeTextFileSync(tmp, text);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // never created
    }
    throw e;
  }
}

/**
 * Checks, before a run, that a report can be written at `path`: creates the
 * directory and writes and removes a probe file beside it. Throws an error
 * naming the path when it cannot, or when `path` is a directory.
 */
export async function checkWritable(path: string): Promise<void> {
  try {
    const st = await Deno.stat(path);
    if (st.isDirectory) throw new Error(`${path} is a directory`);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const dir = dirnameOf(path);
  if (dir) await Deno.mkdir(dir, { recursive: true });
  const probe = tempBeside(path);
  await Deno.writeTextFile(probe, "");
  await Deno.remove(probe);
}

/**
 * An append-only file of JSON lines written synchronously, one line per
 * call: what was written stays on disk whatever happens to the process next.
 */
export class JsonLines {
  readonly #file: Deno.FsFile;
  #closed = false;
  readonly #enc = new TextEncoder();
  private constructor(file: Deno.FsFile, readonly path: string) {
    this.#file = file;
  }

  /** Creates (or truncates) `path`, creating the directory if missing. */
  static open(path: string): JsonLines {
    const dir = dirnameOf(path);
    if (dir) Deno.mkdirSync(dir, { recursive: true });
    return new JsonLines(Deno.openSync(path, { write: true, create: true, truncate: true }), path);
  }

  /** Appends one value as one line. */
  write(value: unknown): void {
    if (this.#closed) return;
    let bytes = this.#enc.encode(JSON.stringify(value) + "\n");
    while (bytes.length > 0) bytes = bytes.subarray(this.#file.writeSync(bytes));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#file.close();
  }
}
