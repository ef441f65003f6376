import { assertEquals } from "@std/assert";
import {
  AdminOpcode,
  AdminQualifier,
  AdminStatus,
  decodeAdminCommand,
  decodeAdminResult,
  decodeBitmap,
  encodeAdminCommand,
  encodeAdminResult,
  encodeBitmap,
} from "./admin_command.ts";
import { AdminEngine } from "./admin_queue.ts";

Deno.test("admin command: header layout, padding to 64 bits, short parts read as zero", () => {
  const bytes = encodeAdminCommand({ opcode: 0x1, groupType: 0, memberId: 7, data: new Uint8Array([3]) });
  assertEquals(bytes.length, 32);
  assertEquals([...bytes.subarray(0, 4)], [1, 0, 0, 0]);
  assertEquals(bytes[16], 7);
  assertEquals(bytes[24], 3);
  const short = decodeAdminCommand(new Uint8Array([0x0a, 0x00, 0x01]));
  assertEquals([short.opcode, short.groupType, short.memberId, short.data.length], [0x0a, 1, 0, 0]);
  const r = encodeAdminResult({ status: 22, qualifier: 4, result: new Uint8Array([9]) });
  assertEquals(r.length, 16);
  assertEquals(decodeAdminResult(r, 4), { status: 22, qualifier: 4, result: new Uint8Array(0) });
});

Deno.test("admin command: opcode bitmaps are little-endian 64-bit words", () => {
  const b = encodeBitmap([0, 1, 64]);
  assertEquals(b.length, 16);
  assertEquals([b[0], b[8]], [3, 1]);
  assertEquals([...decodeBitmap(b)], [0, 1, 64]);
  assertEquals(encodeBitmap([]).length, 8);
});

Deno.test("admin engine: group checked before opcode, opcode before member; the list in use gates commands", () => {
  const e = new AdminEngine({ capabilities: [], resources: [] });
  const run = (opcode: number, groupType = 0, memberId = 0, data: Uint8Array = new Uint8Array(0)) =>
    e.execute({ opcode, groupType, memberId, data });
  assertEquals(run(0x7ffe, 5).qualifier, AdminQualifier.INVALID_GROUP);
  assertEquals(run(0x7ffe).qualifier, AdminQualifier.INVALID_OPCODE);
  assertEquals(run(AdminOpcode.LIST_QUERY, 0, 3).qualifier, AdminQualifier.INVALID_MEMBER);
  assertEquals(run(AdminOpcode.LIST_QUERY).status, AdminStatus.OK);
  assertEquals(run(AdminOpcode.LIST_USE, 0, 0, encodeBitmap([1, 9])).qualifier, AdminQualifier.INVALID_FIELD);
  assertEquals(run(AdminOpcode.LIST_USE, 0, 0, encodeBitmap([1])).status, AdminStatus.OK);
  assertEquals(run(AdminOpcode.LIST_QUERY).qualifier, AdminQualifier.INVALID_OPCODE);
  e.reset();
  assertEquals(run(AdminOpcode.LIST_QUERY).status, AdminStatus.OK);
});
