/**
 * A headless chromium driven over the DevTools protocol, for the browser
 * tests of the HTML reports: open a page, evaluate script in it, click at an
 * element's centre with real mouse events, take a screenshot, and collect
 * console errors, uncaught exceptions and requests that leave the file.
 *
 * The protocol is spoken directly over a WebSocket on 127.0.0.1 rather than
 * through playwright-core: under Deno, playwright-core needs `--allow-all`
 * (it lists the whole environment and probes a /proc path Deno grants only
 * with `--allow-all`), and the test task's permissions stay narrow.
 *
 * Internal to the tests.
 *
 * @module
 */

/** Where Debian's chromium is. */
export const CHROMIUM = "/usr/bin/chromium";

interface Pending {
  resolve: (v: Record<string, unknown>) => void;
  reject: (e: Error) => void;
}

/** One tab of a headless chromium. */
export class ChromiumPage {
  readonly #child: Deno.ChildProcess;
  readonly #ws: WebSocket;
  readonly #profile: string;
  readonly #pending = new Map<number, Pending>();
  readonly #waiters: { method: string; resolve: () => void }[] = [];
  #next = 1;
  #session = "";
  /** Console errors and uncaught exceptions of the page. */
  readonly errors: string[] = [];
  /** URLs the page asked for that are not `file:` or `data:`. */
  readonly outside: string[] = [];

  private constructor(child: Deno.ChildProcess, ws: WebSocket, profile: string) {
    this.#child = child;
    this.#ws = ws;
    this.#profile = profile;
    ws.onmessage = (e) => this.#receive(JSON.parse(String(e.data)));
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error("chromium closed the DevTools connection"));
      this.#pending.clear();
    };
  }

  /** Starts chromium (profile under `dir`) and opens a blank tab of `width` × `height`. */
  static async launch(dir: string, width = 1400, height = 900): Promise<ChromiumPage> {
    await Deno.mkdir(dir, { recursive: true });
    const profile = await Deno.makeTempDir({ dir, prefix: "chromium-profile-" });
    const child = new Deno.Command(CHROMIUM, {
      args: [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        `--user-data-dir=${Deno.realPathSync(profile)}`,
        `--window-size=${width},${height}`,
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      const url = await devtoolsUrl(child.stderr, 30_000);
      const ws = new WebSocket(url);
      await new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error(`cannot connect to chromium's DevTools at ${url}`));
      });
      const page = new ChromiumPage(child, ws, profile);
      const { targetId } = await page.#send("Target.createTarget", { url: "about:blank" }, false);
      const { sessionId } = await page.#send("Target.attachToTarget", { targetId, flatten: true }, false);
      page.#session = String(sessionId);
      for (const domain of ["Page", "Runtime", "Log", "Network"]) await page.#send(`${domain}.enable`);
      await page.#send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
      return page;
    } catch (e) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  #send(method: string, params: Record<string, unknown> = {}, inSession = true): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params, ...(inSession ? { sessionId: this.#session } : {}) }));
    });
  }

  #receive(m: Record<string, unknown>): void {
    if (typeof m.id === "number") {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      const error = m.error as { message?: string } | undefined;
      if (error) p.reject(new Error(`DevTools: ${error.message ?? JSON.stringify(error)}`));
      else p.resolve((m.result ?? {}) as Record<string, unknown>);
      return;
    }
    const method = String(m.method);
    const params = (m.params ?? {}) as Record<string, unknown>;
    if (method === "Runtime.exceptionThrown") {
      const d = params.exceptionDetails as { text?: string; exception?: { description?: string } };
      this.errors.push(d.exception?.description ?? d.text ?? "an uncaught exception");
    } else if (method === "Runtime.consoleAPICalled" && params.type === "error") {
      const args = params.args as { value?: unknown; description?: string }[];
      this.errors.push(args.map((a) => a.description ?? String(a.value)).join(" "));
    } else if (method === "Log.entryAdded") {
      const entry = params.entry as { level: string; text: string };
      if (entry.level === "error") this.errors.push(entry.text);
    } else if (method === "Network.requestWillBeSent") {
      const url = String((params.request as { url: string }).url);
      if (!/^(file|data|about):/.test(url)) this.outside.push(url);
    }
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.#waiters[i]!.method === method) this.#waiters.splice(i, 1)[0]!.resolve();
    }
  }

  /** Loads `url` and waits for its load event. */
  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => this.#waiters.push({ method: "Page.loadEventFired", resolve }));
    const r = await this.#send("Page.navigate", { url });
    if (r.errorText) throw new Error(`chromium could not open ${url}: ${r.errorText}`);
    await loaded;
  }

  /** The value of `expression` evaluated in the page (JSON values only). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.#send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
    const thrown = r.exceptionDetails as { exception?: { description?: string }; text?: string } | undefined;
    if (thrown) throw new Error(`in the page: ${thrown.exception?.description ?? thrown.text}`);
    return (r.result as { value: T }).value;
  }

  /** Clicks with the mouse at the centre of the first element `selector` matches (scrolled into view). */
  async click(selector: string): Promise<void> {
    const at = await this.evaluate<{ x: number; y: number } | null>(`(() => {
      const el = document.querySelector(${JSON.stringify(selector)});
      if (!el) return null;
      el.scrollIntoView({ block: "center", inline: "center" });
      const r = el.getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    })()`);
    if (!at) throw new Error(`no element matches ${selector}`);
    for (const type of ["mousePressed", "mouseReleased"]) {
      await this.#send("Input.dispatchMouseEvent", { type, x: at.x, y: at.y, button: "left", clickCount: 1 });
    }
  }

  /** A PNG screenshot of the viewport. */
  async screenshot(): Promise<Uint8Array> {
    const r = await this.#send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(String(r.data)), (c) => c.charCodeAt(0));
  }

  /** Closes chromium and removes its profile. */
  async close(): Promise<void> {
    try {
      await Promise.race([this.#send("Browser.close", {}, false), new Promise((r) => setTimeout(r, 5000))]);
    } catch { /* it may close the connection before answering */ }
    this.#ws.close();
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, 5000);
    await this.#child.status;
    clearTimeout(timer);
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}

/** Reads chromium's stderr until it names its DevTools WebSocket, then keeps draining it. */
async function devtoolsUrl(stderr: ReadableStream<Uint8Array>, ms: number): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`chromium did not start its DevTools within ${ms} ms: ${text}`)), ms);
  });
  try {
    for (;;) {
      const { value, done } = await Promise.race([reader.read(), timeout]);
      if (done) throw new Error(`chromium exited before its DevTools started: ${text.slice(-2000)}`);
      text += value;
      const m = text.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) {
        // Keep reading, so chromium never blocks on a full pipe.
        (async () => {
          try {
            while (!(await reader.read()).done) { /* drain */ }
          } catch { /* closed */ }
        })();
        return m[1]!;
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
