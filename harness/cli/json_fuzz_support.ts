/**
 * Generators shared by the fuzz tests of the JSONC file validators
 * (`target_file_fuzz_test.ts`, `expectations_fuzz_test.ts`): objects near a
 * valid shape, any JSON value, and texts (valid JSONC, broken JSONC, any
 * string).
 *
 * @module
 */
import fc from "fast-check";

/** Any JSON value, with `__proto__` and `constructor` among the keys now and then. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  {
    weight: 1,
    arbitrary: fc.dictionary(
      fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", ""),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 2 },
    ),
  },
);

/**
 * An object with some of `fields` (each value plausible most of the time,
 * any JSON otherwise) and now and then an unknown key.
 */
export function nearObject(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const record: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, v] of Object.entries(fields)) {
    record[k] = fc.oneof({ weight: 6, arbitrary: v }, { weight: 1, arbitrary: anyJson });
  }
  return fc.tuple(
    fc.record(record, { requiredKeys: [] }),
    fc.option(fc.tuple(fc.oneof(fc.string(), fc.constant("__proto__")), anyJson), { freq: 8 }),
  ).map(([o, extra]) => {
    const out: Record<string, unknown> = { ...o };
    if (extra) Object.defineProperty(out, extra[0], { value: extra[1], enumerable: true, writable: true });
    return out;
  });
}

/** A text for a JSONC parser: the JSON of `value` (with a comment, truncated or spliced now and then), or any string. */
export function jsoncText(value: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: value.map((v) => JSON.stringify(v, null, 1) ?? "") },
    {
      weight: 1,
      arbitrary: fc.tuple(value, fc.nat(), fc.constantFrom("// c\n", "/* c */", ",", "}", "]", '"', "\\", "\u0000", ""))
        .map(
          ([v, at, junk]) => {
            const s = JSON.stringify(v) ?? "";
            const i = s.length === 0 ? 0 : at % (s.length + 1);
            return s.slice(0, i) + junk + s.slice(i);
          },
        ),
    },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 64 }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom("", "{", "[".repeat(5000), "{}".repeat(3), "/*", "//", '{"a":1,}', "[1,]"),
    },
  );
}
