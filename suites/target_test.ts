/**
 * Runs the suite against the target named by `VIRTIO_TARGET` (a target file
 * or a built-in target) as ordinary Deno tests, one per clause. Registers
 * nothing when `VIRTIO_TARGET` is unset.
 *
 * ```sh
 * VIRTIO_TARGET=fixtures/targets/reference_rng_device.jsonc deno task test suites/target_test.ts --reporter=junit
 * ```
 *
 * @module
 */
import { registerTargetTests } from "../harness/cli/deno_test.ts";

await registerTargetTests(Deno.env.get("VIRTIO_TARGET"));
