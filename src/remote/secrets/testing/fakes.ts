/**
 * Test-only: format-valid but fake credentials, and the containers an evasion hides them in. Values
 * are drawn at run time from a seeded generator and every prefix is split in the source, so nothing
 * in the repository looks like a real key (push protection and Kiln's own scanner would flag it).
 */
import { crc32, deflateRawSync, gzipSync } from "node:zlib";
import { Header } from "tar";

// Deterministic xorshift, so a failing sample can be reproduced.
export function generator(seed: number): (n: number, alphabet: string) => string {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return (n, alphabet) => Array.from({ length: n }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
}

/** `n` pseudo-random bytes (xorshift32), fast enough for megabytes. */
export function randomBytesOf(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

const UP = "ABCDEFGHJKLMNPQRSTUVWZ";
const DIG = "0123456789";
const LOW = "abcdghjkmnpqrstuvwz";
const ALNUM = UP + LOW + DIG;
const B64 = ALNUM + "+/";

/** Fake credentials in the shapes the rules know. Each call draws a new one. */
export function fakeCredentials(seed: number) {
  const rand = generator(seed);
  return {
    awsKeyId: () => ["AK", "IA", rand(16, UP + DIG)].join(""),
    awsSecret: () => rand(40, B64),
    hfToken: () => ["hf", "_", rand(34, ALNUM)].join(""),
    githubToken: () => ["gh", "p_", rand(36, ALNUM)].join(""),
    /** 48 random alphanumerics: what an OpenAI-style key assigned to `*_API_KEY` looks like to the rules. */
    apiKeyValue: () => rand(48, ALNUM),
    /** The lines of a PEM private key block (header, six lines of base64, footer). */
    pemLines: (kind = "RSA ") => [`-----BEGIN ${kind}PRIVATE ${"KEY"}-----`, ...Array.from({ length: 6 }, () => rand(64, B64)), `-----END ${kind}PRIVATE KEY-----`],
    bytes: (n: number) => randomBytesOf(n, seed),
  };
}

/** An uncompressed ustar archive of regular files. */
export function tarOf(entries: ReadonlyArray<readonly [string, Uint8Array | string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [path, content] of entries) {
    const data = Buffer.from(content);
    const header = Buffer.alloc(512);
    new Header({ path, mode: 0o644, size: data.length, type: "File", mtime: new Date(0), uid: 0, gid: 0 }).encode(header, 0);
    parts.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const tgzOf = (entries: ReadonlyArray<readonly [string, Uint8Array | string]>): Buffer => gzipSync(tarOf(entries));

/** A zip archive (deflated members, or stored with `store`), readable by `unzip`. */
export function zipOf(entries: ReadonlyArray<readonly [string, Uint8Array | string]>, store = false): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [path, content] of entries) {
    const data = Buffer.from(content);
    const packed = store ? data : deflateRawSync(data);
    const name = Buffer.from(path);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(store ? 0 : 8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt16LE(store ? 0 : 8, 10);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(packed.length, 20);
    dir.writeUInt32LE(data.length, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    central.push(dir, name);
    offset += local.length + name.length + packed.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** UTF-16 bytes of `text`, little- or big-endian, with or without a byte-order mark. */
export function utf16(text: string, endian: "le" | "be", bom: boolean): Buffer {
  const le = Buffer.from((bom ? "\ufeff" : "") + text, "utf16le");
  return endian === "le" ? le : Buffer.from(le).swap16();
}

/** A Jupyter notebook (nbformat 4) as Jupyter writes it: one JSON string per source line. */
export function notebookOf(cells: ReadonlyArray<{ source: string; outputs?: unknown[] }>): string {
  const lines = (s: string) => s.split(/(?<=\n)/);
  return `${JSON.stringify(
    {
      cells: cells.map((c, i) => ({
        cell_type: "code",
        execution_count: i + 1,
        id: `cell-${i}`,
        metadata: {},
        outputs: c.outputs ?? [],
        source: lines(c.source),
      })),
      metadata: { kernelspec: { display_name: "Python 3", language: "python", name: "python3" } },
      nbformat: 4,
      nbformat_minor: 5,
    },
    null,
    1,
  )}\n`;
}

/** The start of a PNG: signature, IHDR, then an IDAT chunk of `body`. */
export function pngOf(body: Uint8Array): Buffer {
  const chunk = (type: string, data: Uint8Array) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type), data])));
    return Buffer.concat([len, Buffer.from(type), data, crc]);
  };
  const ihdr = Buffer.from([0, 0, 1, 0, 0, 0, 1, 0, 8, 6, 0, 0, 0]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", body), chunk("IEND", Buffer.alloc(0))]);
}

/** A safetensors file: 8-byte header length, the JSON header, then the tensor bytes. */
export function safetensorsOf(tensor: Uint8Array): Buffer {
  const header = Buffer.from(
    JSON.stringify({
      __metadata__: { format: "pt" },
      "model.layers.0.mlp.down_proj.weight": { dtype: "F32", shape: [tensor.length / 4], data_offsets: [0, tensor.length] },
    }),
  );
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, tensor]);
}
