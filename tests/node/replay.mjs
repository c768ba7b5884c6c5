// Replays an allocation plan on a wasm module in V8 (Node) and prints the page curve.
//
// WHY: auditor measures allocator growth in wasmtime through its own harness; this is
// the independent runtime the tests compare those page counts with. It knows nothing
// of auditor: it reads a plan (which export to call with which sizes, when to record
// `memory.size`) and reports what V8's memory did.
//
// usage: node replay.mjs MODULE.wasm PLAN.json
// PLAN: {"cap_pages": N, "alloc": "export", "free": "export", "align": 8,
//        "steps": [[op, ...], ...]}   op: ["a", slot, size] | ["f", slot, size]
// The module's first memory gets maximum = cap_pages (or its own, if smaller), so
// memory.grow past the cap fails with -1 in V8 as it does under auditor's limiter.
// Pages are recorded once before the first step and after every step; the replay stops
// at the first failed allocation (null pointer or trap), recording that step.
// Output (stdout, JSON): {"curve": [...], "allocations": successful allocations,
//   "failure": null | {"step", "op", "kind", "message"}, "max_pages": N}
import { readFileSync } from "node:fs";

const PAGE = 65536;

function readLeb(buf, pos) {
  let result = 0, shift = 0, byte;
  do {
    byte = buf[pos++];
    result += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [result, pos];
}

function leb(n) {
  const out = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

// The module with its first defined memory capped at `cap` pages (32-bit memories).
export function capMemory(bytes, cap) {
  const out = [bytes.subarray(0, 8)];
  let pos = 8, capped = null;
  while (pos < bytes.length) {
    const id = bytes[pos];
    const [size, body] = readLeb(bytes, pos + 1);
    const end = body + size;
    if (id === 5 && capped === null) {
      let [count, p] = readLeb(bytes, body);
      const sec = [...leb(count)];
      for (let i = 0; i < count; i++) {
        const flags = bytes[p++];
        if (flags & 0x04) throw new Error("memory64 is not supported");
        let min, max = null;
        [min, p] = readLeb(bytes, p);
        if (flags & 0x01) [max, p] = readLeb(bytes, p);
        if (i === 0) {
          max = max === null ? cap : Math.min(max, cap);
          capped = max;
        }
        sec.push(max === null ? flags & ~0x01 : flags | 0x01, ...leb(min));
        if (max !== null) sec.push(...leb(max));
      }
      out.push(Uint8Array.from([5, ...leb(sec.length), ...sec]));
    } else {
      out.push(bytes.subarray(pos, end));
    }
    pos = end;
  }
  return { bytes: Buffer.concat(out), max: capped };
}

function main() {
  const [modulePath, planPath] = process.argv.slice(2);
  const plan = JSON.parse(readFileSync(planPath, "utf8"));
  const { bytes, max } = capMemory(readFileSync(modulePath), plan.cap_pages);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
  const ex = instance.exports;
  const memory = Object.values(ex).find((e) => e instanceof WebAssembly.Memory);
  const pages = () => memory.buffer.byteLength / PAGE;
  const align = plan.align ?? 8;
  const ptrs = new Map();
  const curve = [pages()];
  let failure = null, allocations = 0;
  for (let s = 0; s < plan.steps.length && failure === null; s++) {
    for (const op of plan.steps[s]) {
      const [kind, slot, size] = op;
      try {
        if (kind === "a") {
          const p = ex[plan.alloc](size, align) >>> 0;
          if (p === 0) { failure = { step: s, op, kind: "null", message: null }; break; }
          ptrs.set(slot, p);
          allocations++;
        } else {
          ex[plan.free](ptrs.get(slot), size, align);
          ptrs.delete(slot);
        }
      } catch (e) {
        failure = { step: s, op, kind: "trap", message: String(e.message) };
        break;
      }
    }
    curve.push(pages());
  }
  process.stdout.write(JSON.stringify({ curve, allocations, failure, max_pages: max }) + "\n");
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
