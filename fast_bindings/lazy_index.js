// Preloaded into the jsii runtime's node processes by fast_bindings (NODE_OPTIONS=--require).
//
// `@cdktf/provider-aws/lib/index.js` is 2,135 lines of `exports.x = require("./x");`, so the
// jsii kernel's `require` of the package loads every resource module (~1.2 s) although the app
// uses a few dozen. This rewrites that one file, as node compiles it, so that each line becomes
// a getter that requires its module on first access and then replaces itself with the value:
// same exports, same order, same enumerability; only the time of loading changes.
//
// If the file does not have that layout, it is compiled unchanged and this says so once.
// FAST_BINDINGS_REPORT=<file> writes {"deferred": n, "loaded": [...]} there when node exits.
"use strict";

const fs = require("fs");
const Module = require("module");
const path = require("path");

const TARGET = path.join("@cdktf", "provider-aws", "lib", "index.js");
const EAGER = /^exports\.(\w+) = require\("(\.\/[a-z0-9-]+)"\);$/gm;
const MIN_EAGER = 1000; // the pinned 20.1.0 has 2,135; far fewer means the layout changed
const LAZY = "__fastBindingsLazy";

const report = { deferred: 0, loaded: [] };

function lazyIndex(source) {
  const count = (source.match(EAGER) || []).length;
  if (count < MIN_EAGER || source.includes(LAZY)) {
    process.stderr.write(`fast_bindings: ${TARGET} layout not recognised; node loads every module\n`);
    return source;
  }
  report.deferred = count;
  // A function declaration is hoisted, so appending it keeps every line number (and the source map).
  return source.replace(EAGER, (_, name, file) => `${LAZY}(${JSON.stringify(name)}, ${JSON.stringify(file)});`) +
    `\nfunction ${LAZY}(name, file) {
  Object.defineProperty(exports, name, { enumerable: true, configurable: true, get() {
    const value = require(file);
    Object.defineProperty(exports, name, { value, enumerable: true, configurable: true, writable: true });
    require(${JSON.stringify(__filename)}).loaded(name);
    return value;
  } });
}\n`;
}

const compile = Module.prototype._compile;
Module.prototype._compile = function (content, filename) {
  if (filename.endsWith(path.sep + TARGET)) {
    Module.prototype._compile = compile; // one file per process
    content = lazyIndex(content);
  }
  return compile.call(this, content, filename);
};

module.exports = { lazyIndex, loaded: (name) => report.loaded.push(name) };

if (process.env.FAST_BINDINGS_REPORT) {
  process.on("exit", () => {
    if (report.deferred) fs.writeFileSync(process.env.FAST_BINDINGS_REPORT, JSON.stringify(report));
  });
}
