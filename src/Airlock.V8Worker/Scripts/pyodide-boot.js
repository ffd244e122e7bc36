// Boots Pyodide from the shims' files (or from a memory snapshot) and returns a state object the worker polls. On
// success state.run(code) runs one module body in __main__ and returns its exit code; stdout and stderr go to the
// console prelude's buffers as latin-1 strings of the raw bytes.
(function (loadPyodide, create, lockText, snapshot, makeSnapshot, out) {
  'use strict';
  const state = { done: false, error: undefined, run: undefined, snapshot: undefined };
  const latin1 = (buf) => {
    let s = '';
    for (let i = 0; i < buf.length; i += 8192) s += String.fromCharCode.apply(null, buf.subarray(i, i + 8192));
    return s;
  };
  const opts = {
    indexURL: '/pyodide/',
    createPyodideModule: create,
    lockFileContents: lockText,
    packageBaseUrl: '/pyodide/',
    env: { HOME: '/home/pyodide', PYTHONHASHSEED: '0' },
    stdin: () => null,
    checkAPIVersion: true,
  };
  if (snapshot !== undefined) opts._loadSnapshot = snapshot;
  if (makeSnapshot) opts._makeSnapshot = true;
  loadPyodide(opts).then((py) => {
    if (makeSnapshot) state.snapshot = py.makeMemorySnapshot();
    py.setStdout({ write: (buf) => { out.write(0, latin1(buf)); return buf.length; }, isatty: false });
    py.setStderr({ write: (buf) => { out.write(1, latin1(buf)); return buf.length; }, isatty: false });
    const runner = py.runPython(`
def _airlock_make():
    import sys, traceback
    def run(code):
        main = sys.modules["__main__"].__dict__
        main.pop("_airlock_make", None)
        try:
            exec(compile(code, "<exec>", "exec"), main)
            return 0
        except SystemExit as e:
            c = e.code
            if c is None:
                return 0
            if isinstance(c, int):
                return c & 255
            print(c, file=sys.stderr)
            return 1
        except BaseException as e:
            traceback.print_exception(type(e), e, e.__traceback__.tb_next)
            return 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except BaseException:
                pass
    return run
_airlock_make()
`);
    state.run = (code) => runner(code);
    state.done = true;
  }, (e) => {
    state.error = String((e && e.stack) || e);
    state.done = true;
  });
  state.forget = () => { state.snapshot = undefined; };
  return state;
})
