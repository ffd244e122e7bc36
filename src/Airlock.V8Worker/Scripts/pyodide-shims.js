// What pyodide.asm.mjs and pyodide.js need from a JavaScript shell that is not ECMAScript, written in JavaScript so
// that no host object enters the engine: TextEncoder/TextDecoder (UTF-8), performance.now, crypto.getRandomValues
// (ChaCha20 keyed with 32 bytes from the host's CSPRNG; Python's os.urandom reads it through /dev/urandom),
// setTimeout/clearTimeout queued here and run by the worker between turns, and read/readbuffer/load serving only
// the files the worker placed in this closure (the runtime, the stdlib, the lock file). The loader detects a "shell"
// environment from read+load. The worker calls seal() after loading: read, readbuffer and load are deleted and the
// file map dropped, so Python (which can reach every global through `import js`) finds only these pure shims.
(function (seed) {
  'use strict';
  const files = new Map();

  // ---- UTF-8
  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(s = '') {
      s = String(s);
      const out = new Uint8Array(s.length * 3);
      let n = 0;
      for (let i = 0; i < s.length; i++) {
        let c = s.charCodeAt(i);
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
          const d = s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d < 0xe000) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
          else c = 0xfffd;
        } else if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
        if (c < 0x80) out[n++] = c;
        else if (c < 0x800) { out[n++] = 0xc0 | (c >> 6); out[n++] = 0x80 | (c & 63); }
        else if (c < 0x10000) { out[n++] = 0xe0 | (c >> 12); out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63); }
        else { out[n++] = 0xf0 | (c >> 18); out[n++] = 0x80 | ((c >> 12) & 63); out[n++] = 0x80 | ((c >> 6) & 63); out[n++] = 0x80 | (c & 63); }
      }
      return out.slice(0, n);
    }
    encodeInto(s, dest) {
      const b = this.encode(s);
      const n = Math.min(b.length, dest.length);
      dest.set(b.subarray(0, n));
      return { read: s.length, written: n };
    }
  }
  class TextDecoder {
    constructor(label = 'utf-8', options = {}) {
      label = String(label).trim().toLowerCase();
      this._kind = label === 'utf-8' || label === 'utf8' || label === 'unicode-1-1-utf-8' ? 'utf-8'
        : label === 'latin1' || label === 'iso-8859-1' || label === 'ascii' || label === 'us-ascii' || label === 'windows-1252' ? 'latin1'
        : label === 'utf-16le' || label === 'utf-16' ? 'utf-16le'
        : undefined;
      if (this._kind === undefined) throw new RangeError('TextDecoder: unsupported encoding ' + label);
      this._fatal = !!(options && options.fatal);
      this._ignoreBOM = !!(options && options.ignoreBOM);
    }
    get encoding() { return this._kind === 'latin1' ? 'windows-1252' : this._kind; }
    get fatal() { return this._fatal; }
    get ignoreBOM() { return this._ignoreBOM; }
    decode(input) {
      if (input === undefined) return '';
      const b = input instanceof Uint8Array ? input
        : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        : new Uint8Array(input);
      let s = '';
      const chunk = [];
      const flush = () => { s += String.fromCharCode.apply(null, chunk); chunk.length = 0; };
      if (this._kind === 'latin1') {
        for (let i = 0; i < b.length; i++) { chunk.push(b[i]); if (chunk.length >= 8192) flush(); }
        flush();
        return s;
      }
      if (this._kind === 'utf-16le') {
        let i = 0;
        if (!this._ignoreBOM && b.length >= 2 && b[0] === 0xff && b[1] === 0xfe) i = 2;
        for (; i + 1 < b.length; i += 2) { chunk.push(b[i] | (b[i + 1] << 8)); if (chunk.length >= 8192) flush(); }
        flush();
        return s;
      }
      let i = 0;
      if (!this._ignoreBOM && b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
      while (i < b.length) {
        const c = b[i];
        let cp = -1, len = 1;
        if (c < 0x80) cp = c;
        else if (c >= 0xc2 && c < 0xe0 && i + 1 < b.length && (b[i + 1] & 0xc0) === 0x80) { cp = ((c & 31) << 6) | (b[i + 1] & 63); len = 2; }
        else if (c >= 0xe0 && c < 0xf0 && i + 2 < b.length && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
          const v = ((c & 15) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63);
          if (v >= 0x800 && (v < 0xd800 || v >= 0xe000)) { cp = v; len = 3; }
        } else if (c >= 0xf0 && c < 0xf5 && i + 3 < b.length && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80) {
          const v = ((c & 7) << 18) | ((b[i + 1] & 63) << 12) | ((b[i + 2] & 63) << 6) | (b[i + 3] & 63);
          if (v >= 0x10000 && v < 0x110000) { cp = v; len = 4; }
        }
        if (cp < 0) {
          if (this._fatal) throw new TypeError('The encoded data was not valid for encoding utf-8');
          cp = 0xfffd;
        }
        i += len;
        if (cp >= 0x10000) { cp -= 0x10000; chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023)); }
        else chunk.push(cp);
        if (chunk.length >= 8192) flush();
      }
      flush();
      return s;
    }
  }

  // ---- clock
  const t0 = Date.now();
  const performance = { now: () => Date.now() - t0, timeOrigin: t0 };

  // ---- ChaCha20 keystream as the random source
  const key = new Uint32Array(seed.buffer.slice(0, 32));
  const state = new Uint32Array(16), block = new Uint32Array(16);
  const blockBytes = new Uint8Array(block.buffer);
  let counter = 0, avail = 0;
  const rotl = (v, n) => (v << n) | (v >>> (32 - n));
  function qr(x, a, b, c, d) {
    x[a] = (x[a] + x[b]) | 0; x[d] = rotl(x[d] ^ x[a], 16);
    x[c] = (x[c] + x[d]) | 0; x[b] = rotl(x[b] ^ x[c], 12);
    x[a] = (x[a] + x[b]) | 0; x[d] = rotl(x[d] ^ x[a], 8);
    x[c] = (x[c] + x[d]) | 0; x[b] = rotl(x[b] ^ x[c], 7);
  }
  function refill() {
    state[0] = 0x61707865; state[1] = 0x3320646e; state[2] = 0x79622d32; state[3] = 0x6b206574;
    state.set(key, 4);
    state[12] = counter++; state[13] = 0; state[14] = 0; state[15] = 0;
    block.set(state);
    for (let i = 0; i < 10; i++) {
      qr(block, 0, 4, 8, 12); qr(block, 1, 5, 9, 13); qr(block, 2, 6, 10, 14); qr(block, 3, 7, 11, 15);
      qr(block, 0, 5, 10, 15); qr(block, 1, 6, 11, 12); qr(block, 2, 7, 8, 13); qr(block, 3, 4, 9, 14);
    }
    for (let i = 0; i < 16; i++) block[i] = (block[i] + state[i]) | 0;
    avail = 64;
  }
  const crypto = {
    getRandomValues(view) {
      if (!ArrayBuffer.isView(view)) throw new TypeError('getRandomValues: an integer typed array is required');
      if (view.byteLength > 65536) throw new RangeError('getRandomValues: at most 65536 bytes');
      const b = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
      for (let i = 0; i < b.length; i++) {
        if (avail === 0) refill();
        b[i] = blockBytes[64 - avail--];
      }
      return view;
    },
  };

  // ---- timers, run by the worker
  const timers = new Map();
  let nextTimer = 1;
  function setTimeout(fn, ms = 0, ...args) {
    const id = nextTimer++;
    timers.set(id, { fn, args, at: performance.now() + (+ms || 0) });
    return id;
  }
  function clearTimeout(id) { timers.delete(id); }

  function read(path, mode) {
    const f = files.get(String(path));
    if (f === undefined) throw new Error('ENOENT: ' + path);
    if (mode === 'binary') return typeof f === 'string' ? new TextEncoder().encode(f) : f;
    return typeof f === 'string' ? f : new TextDecoder().decode(f);
  }
  function readbuffer(path) {
    const f = read(path, 'binary');
    return f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength);
  }
  function load() { throw new Error('load() is not available'); }

  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  define('TextEncoder', TextEncoder);
  define('TextDecoder', TextDecoder);
  define('performance', performance);
  define('crypto', crypto);
  define('setTimeout', setTimeout);
  define('clearTimeout', clearTimeout);
  define('read', read);
  define('readbuffer', readbuffer);
  define('load', load);

  return {
    putBytes(path, bytes) { files.set(path, bytes); },
    putText(path, text) { files.set(path, text); },
    newBytes(n) { return new Uint8Array(n); },
    // Runs the timers that are due (all of them when force); returns how many are left.
    runTimers(force) {
      const now = performance.now();
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (!force && t.at > now) continue;
        timers.delete(id);
        t.fn(...t.args);
      }
      return timers.size;
    },
    clearTimers() { timers.clear(); },
    seal() {
      files.clear();
      for (const name of ['read', 'readbuffer', 'load', 'loadPyodide', 'exports', 'pyodide']) delete globalThis[name];
    },
  };
})
