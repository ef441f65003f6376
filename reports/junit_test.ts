import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { junitXml, writeJunitReport, xmlAttr, xmlEscape } from "./junit.ts";
import { sampleReport } from "./sample_results_test_data.ts";

/** Checks that tags nest and close properly (a small structural well-formedness check). */
function assertWellFormed(xml: string): void {
  assert(xml.startsWith(`<?xml version="1.0" encoding="UTF-8"?>\n`));
  const body = xml.slice(xml.indexOf("?>") + 2);
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[\w.-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  let m: RegExpExecArray | null;
  let roots = 0;
  while ((m = tag.exec(body)) !== null) {
    const between = body.slice(last, m.index);
    assert(!/[<>]/.test(between), `stray markup before ${m[0]}: ${between}`);
    assert(!/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(between), `unescaped & in ${between}`);
    for (const attr of m[3]!.matchAll(/="([^"]*)"/g)) {
      assert(!/&(?!(amp|lt|gt|quot|apos|#\d+);)/.test(attr[1]!), `unescaped & in attribute ${attr[1]}`);
      assert(!attr[1]!.includes("'") && !attr[1]!.includes(">"), `unescaped quote or > in ${attr[1]}`);
    }
    last = m.index + m[0].length;
    const [, close, name, , selfClose] = m;
    if (close) assertEquals(stack.pop(), name, `mismatched </${name}>`);
    else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
  }
  assert(!/[<>]/.test(body.slice(last)), "stray markup at the end");
  assertEquals(stack, [], "unclosed tags");
  assertEquals(roots, 1, "one root element");
}

Deno.test("junit: escaping of < & \" ' > and of invalid characters", () => {
  assertEquals(xmlEscape(`<a href="x">&'</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
  assertEquals(xmlEscape("a\u0001b\u0000"), "a\uFFFDb\uFFFD");
  assertEquals(xmlAttr("line1\nline2\t"), "line1&#10;line2&#9;");
});

Deno.test("junit: well formed, one testsuite per target and transport, one testcase per result", () => {
  const xml = junitXml(sampleReport());
  assertWellFormed(xml);
  assertEquals(xml.match(/<testsuite /g)?.length, 2);
  assertEquals(xml.match(/<testcase /g)?.length, 5);
  assertStringIncludes(
    xml,
    `<testsuite name="reference-rng-device @ mmio" tests="2" failures="0" errors="1" skipped="0"`,
  );
  assertStringIncludes(xml, `<testsuite name="mutant-a @ mmio" tests="3" failures="1" errors="0" skipped="1"`);
  assertStringIncludes(
    xml,
    `classname="2.4.1/devicenormative:Basic Facilities of a Virtio Device / Device Reset" name="2.4.1#1 status reads 0 after a reset"`,
  );
});

Deno.test("junit: fail, error, n/a and warn map to failure, error, skipped and system-out", () => {
  const xml = junitXml(sampleReport());
  assertEquals(xml.match(/<failure /g)?.length, 1);
  assertEquals(xml.match(/<error /g)?.length, 1);
  assertEquals(xml.match(/<skipped /g)?.length, 1);
  assertEquals(xml.match(/<system-out>/g)?.length, 1);
  assertStringIncludes(xml, `name="2.4.1#2 no &lt;queue&gt; access &amp; &quot;no&quot; notification"`);
  assertStringIncludes(
    xml,
    `<failure message="Expected used idx &lt;= 0 &amp; &apos;quiet&apos;; actual: &quot;1&quot;"`,
  );
  assertStringIncludes(xml, "Expected: used idx &lt;= 0 &amp; &apos;quiet&apos;");
  assertStringIncludes(xml, "Actual: &quot;1&quot; &lt;moved&gt;");
  assertStringIncludes(
    xml,
    "Replay: deno task conform --target reference-rng-device --filter &apos;x#2&apos; --seed 1",
  );
  assert(!xml.includes("\u0001"));
});

Deno.test("junit: writes the file, creating its directory", async () => {
  const dir = `reports/out/junit_test/${crypto.randomUUID()}`;
  await writeJunitReport(`${dir}/r.xml`, sampleReport());
  assertWellFormed(await Deno.readTextFile(`${dir}/r.xml`));
  await Deno.remove(dir, { recursive: true });
});
