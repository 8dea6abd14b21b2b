// Preloaded into the jsii runtime's node processes by fast_bindings (NODE_OPTIONS=--require). Two changes,
// neither of which changes what is synthesized:
//
// 1. `@cdktf/provider-aws/lib/index.js` is 2,135 lines of `exports.x = require("./x");`, so the
// jsii kernel's `require` of the package loads every resource module (~1.2 s) although the app
// uses a few dozen. This rewrites that one file, as node compiles it, so that each line becomes
// a getter that requires its module on first access and then replaces itself with the value:
// same exports, same order, same enumerability; only the time of loading changes.
//
// If the file does not have that layout, it is compiled unchanged and this says so once.
//
// 2. cdktf checks the Terraform version at synth for each feature that needs a newer one (moved blocks, the
// terraform_data resource): each check runs `terraform version` (a shell and terraform, ~60 ms) for the same
// answer. Within one process the first output of that command is kept and given to the later checks; each
// check still compares it with its own constraint and reports its own message.
//
// FAST_BINDINGS_REPORT=<file> writes {"deferred": n, "loaded": [...], "versionChecks": {command: [asked, ran]}}
// there when node exits.
"use strict";

const childProcess = require("child_process");
const fs = require("fs");
const Module = require("module");
const path = require("path");

const TARGET = path.join("@cdktf", "provider-aws", "lib", "index.js");
const VERSION_CHECK = path.join("cdktf", "lib", "validations", "validate-binary-version.js");
const EAGER = /^exports\.(\w+) = require\("(\.\/[a-z0-9-]+)"\);$/gm;
const MIN_EAGER = 1000; // the pinned 20.1.0 has 2,135; far fewer means the layout changed
const LAZY = "__fastBindingsLazy";

const report = { deferred: 0, loaded: [], versionChecks: {} };

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

// The output of `command` (run once by execSync with the first caller's options) for every caller of
// `validate` of that check: cdktf's ValidateBinaryVersion calls execSync(this.versionCommand, ...) and
// nothing else of child_process.
function rememberVersionOutput(ValidateBinaryVersion) {
  const validate = ValidateBinaryVersion.prototype.validate;
  const outputs = new Map();
  ValidateBinaryVersion.prototype.validate = function () {
    const command = this.versionCommand;
    const counts = (report.versionChecks[command] = report.versionChecks[command] || [0, 0]);
    counts[0] += 1;
    const execSync = childProcess.execSync;
    childProcess.execSync = function (asked, options) {
      if (asked !== command) return execSync.apply(this, arguments);
      if (!outputs.has(command)) {
        outputs.set(command, execSync.call(this, asked, options)); // a failure throws, is not kept
        counts[1] += 1;
      }
      return outputs.get(command);
    };
    try {
      return validate.call(this);
    } finally {
      childProcess.execSync = execSync;
    }
  };
}

const compile = Module.prototype._compile;
const pending = new Set([TARGET, VERSION_CHECK]); // one file each per process
Module.prototype._compile = function (content, filename) {
  const target = [...pending].find((suffix) => filename.endsWith(path.sep + suffix));
  if (target) {
    pending.delete(target);
    if (pending.size === 0) Module.prototype._compile = compile;
  }
  const result = compile.call(this, target === TARGET ? lazyIndex(content) : content, filename);
  if (target === VERSION_CHECK && this.exports.ValidateBinaryVersion) {
    rememberVersionOutput(this.exports.ValidateBinaryVersion);
  }
  return result;
};

module.exports = { lazyIndex, loaded: (name) => report.loaded.push(name) };

if (process.env.FAST_BINDINGS_REPORT) {
  process.on("exit", () => {
    if (report.deferred || Object.keys(report.versionChecks).length) {
      fs.writeFileSync(process.env.FAST_BINDINGS_REPORT, JSON.stringify(report));
    }
  });
}
