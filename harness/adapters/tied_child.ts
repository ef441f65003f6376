/**
 * Child processes that die with the harness: started under util-linux's
 * `setpriv --pdeathsig KILL` where that is present and allowed, so the
 * kernel kills them even when the harness is killed with SIGKILL.
 *
 * @module
 */

/** The wrapper program (what `--allow-run` must name for the tie). */
export const PDEATHSIG_WRAPPER = "setpriv";

/**
 * Spawns `program` under `setpriv --pdeathsig KILL` when that is allowed and
 * present; otherwise plainly (the caller still stops it on every exit path
 * the harness sees).
 *
 * @example
 * ```ts ignore
 * const child = spawnTied("qemu-system-aarch64", ["-M", "virt"], { stdout: "piped" });
 * await child.status;
 * ```
 */
export function spawnTied(
  program: string,
  args: string[],
  io: Omit<Deno.CommandOptions, "args">,
): Deno.ChildProcess {
  try {
    return new Deno.Command(PDEATHSIG_WRAPPER, { args: ["--pdeathsig", "KILL", "--", program, ...args], ...io })
      .spawn();
  } catch {
    // No setpriv, or not allowed to run it.
  }
  return new Deno.Command(program, { args, ...io }).spawn();
}
