/**
 * The entry point of a worker that runs a user's in-process module: the
 * worker's message scope carries the frames of `module_host.ts`.
 *
 * @module
 */
import type { Frame } from "./frame.ts";
import { serveModule } from "./module_host.ts";

interface Scope {
  postMessage(message: Frame): void;
  addEventListener(type: "message", listener: (e: MessageEvent<Frame>) => void): void;
}
const scope = globalThis as unknown as Scope;
const post = scope.postMessage.bind(scope);

serveModule({
  send: post,
  listen: (handler) => scope.addEventListener("message", (e) => handler(e.data)),
});
