// Runs first in every fresh engine. Replaces V8's console (a no-op without an inspector) with a console that only appends to arrays held in this closure, and returns the
// control object the worker keeps. Nothing here reaches the host: the worker reads the output back as strings after
// the script ends. Intrinsics are captured now so a script that patches Array.prototype or String cannot make the
// drain misbehave beyond its own output. ClearScript's own global, EngineInternal, cannot be removed: ClearScript
// defines it non-configurable and frozen and uses it for every call the worker makes into the engine. It holds only
// pure-JavaScript helpers (apply, construct, promise and iterator wrappers) and reaches no host object, because the
// worker adds none; the tests enumerate globalThis and EngineInternal to hold this.
(function () {
  'use strict';
  const apply = Reflect.apply;
  const push = Array.prototype.push;
  const join = Array.prototype.join;
  const String_ = String;
  const stringify = JSON.stringify;
  const isArray = Array.isArray;
  const OVER = Object.freeze({ name: 'OutputLimit', message: 'output limit reached' });
  let out = [], err = [], size = 0, limit = 1 / 0, over = false;

  function write(stream, s) {
    if (over) {
      throw OVER;
    }
    const room = limit - size;
    if (s.length > room) {
      s = apply(String.prototype.slice, s, [0, room > 0 ? room : 0]);
      over = true;
    }
    size += s.length;
    apply(push, stream ? err : out, [s]);
    if (over) {
      throw OVER;
    }
  }

  function fmt(v, top) {
    switch (typeof v) {
      case 'string': return top ? v : stringify(v);
      case 'undefined': return 'undefined';
      case 'function': return '[Function: ' + (v.name || 'anonymous') + ']';
      case 'symbol': case 'bigint': case 'number': case 'boolean': return String_(v);
    }
    if (v === null) return 'null';
    if (v instanceof Error) return String_(v.stack || v);
    try {
      const s = stringify(v);
      return s === undefined ? String_(v) : s;
    } catch {
      return isArray(v) ? '[Array]' : '[object]';
    }
  }

  const mk = (stream) => function (...args) {
    const parts = [];
    for (let i = 0; i < args.length; i++) parts[i] = fmt(args[i], true);
    write(stream, apply(join, parts, [' ']) + '\n');
  };
  const console = {
    log: mk(0), info: mk(0), debug: mk(0), warn: mk(1), error: mk(1), trace: mk(1),
  };
  Object.defineProperty(globalThis, 'console', { value: console, writable: true, configurable: true, enumerable: false });

  return {
    write: write,
    setLimit(n) { limit = n; },
    takeOut() { const s = apply(join, out, ['']); out = []; return s; },
    takeErr() { const s = apply(join, err, ['']); err = []; return s; },
    over() { return over; },
    reset() { out = []; err = []; size = 0; over = false; limit = 1 / 0; },
  };
})()
