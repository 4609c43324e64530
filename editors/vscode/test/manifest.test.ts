// package.json's debugger contribution declares every attribute dapgo accepts, with the
// right types and defaults, and its initial configurations match src/config.ts.

import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { initialConfigurations } from '../src/config';

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
const dbg = pkg.contributes.debuggers.find((d: { type: string }) => d.type === 'dapgo');

const DISPLAY: Record<string, [string, unknown]> = {
  showPprofLabels: ['array', []],
  goroutineFilters: ['string', ''],
  hideSystemGoroutines: ['boolean', false],
  maxGoroutines: ['number', 1024],
  showGlobalVariables: ['boolean', false],
  showRegisters: ['boolean', true],
  maxStringLen: ['number', 512],
  maxArrayValues: ['number', 64],
};

describe('package.json: the dapgo debugger contribution', () => {
  it('declares type dapgo, label "Go (dapgo)", language go, breakpoints in go files', () => {
    assert.ok(dbg);
    assert.strictEqual(dbg.label, 'Go (dapgo)');
    assert.deepStrictEqual(dbg.languages, ['go']);
    assert.deepStrictEqual(pkg.contributes.breakpoints, [{ language: 'go' }]);
    assert.strictEqual(dbg.variables.pickProcess, 'dapgo.pickProcess');
    assert.ok(pkg.contributes.commands.some((c: { command: string }) => c.command === 'dapgo.pickProcess'));
    assert.strictEqual(pkg.contributes.configuration.properties['dapgo.path'].default, 'dapgo');
  });

  it('dapgo.path, dapgo.args and dapgo.env are read from User settings in remote windows too; restricted when untrusted', () => {
    // machine(-overridable) settings are ignored in User settings of code-server, Remote-SSH,
    // WSL and Dev Containers windows (tests/editors/test_real_vscode.py sets it there)
    const settings = ['dapgo.path', 'dapgo.args', 'dapgo.env'];
    for (const name of settings) {
      assert.strictEqual(pkg.contributes.configuration.properties[name].scope, 'resource', name);
    }
    assert.deepStrictEqual(pkg.capabilities.untrustedWorkspaces.restrictedConfigurations, settings);
    assert.deepStrictEqual(Object.keys(pkg.contributes.configuration.properties).sort(), [...settings].sort());
  });

  it('launch: every attribute, with types and defaults', () => {
    const p = dbg.configurationAttributes.launch.properties;
    assert.deepStrictEqual(p.mode.enum, ['debug', 'exec', 'test', 'auto']);
    assert.strictEqual(p.mode.default, 'debug');
    for (const [k, t] of Object.entries({ program: 'string', args: 'array', env: 'object', cwd: 'string', output: 'string', stopOnEntry: 'boolean', host: 'string', port: 'number' })) {
      assert.strictEqual(p[k]?.type, t, k);
    }
    assert.deepStrictEqual(p.buildFlags.type, ['string', 'array']);
    assert.deepStrictEqual(p.env.additionalProperties.type, ['string', 'null']);
    for (const [k, [t, d]] of Object.entries(DISPLAY)) {
      assert.strictEqual(p[k]?.type, t, k);
      assert.deepStrictEqual(p[k].default, d, k);
    }
    for (const [k, v] of Object.entries(p)) {
      assert.ok((v as { description?: string }).description, `launch.${k} has a description`);
    }
  });

  it('attach: mode local, processId number or string, display options, host/port', () => {
    const p = dbg.configurationAttributes.attach.properties;
    assert.deepStrictEqual(p.mode.enum, ['local']);
    assert.strictEqual(p.mode.default, 'local');
    assert.deepStrictEqual(p.processId.anyOf.map((s: { type: string }) => s.type), ['number', 'string']);
    for (const [k, [t, d]] of Object.entries(DISPLAY)) {
      assert.strictEqual(p[k]?.type, t, k);
      assert.deepStrictEqual(p[k].default, d, k);
    }
    assert.strictEqual(p.host.type, 'string');
    assert.strictEqual(p.port.type, 'number');
  });

  it('initialConfigurations: launch package, launch file, attach, connect to server; same as the provider', () => {
    assert.deepStrictEqual(dbg.initialConfigurations, initialConfigurations());
    assert.deepStrictEqual(dbg.initialConfigurations.map((c: { name: string }) => c.name),
      ['Launch package', 'Launch file', 'Attach to process', 'Connect to server']);
  });

  it('configurationSnippets cover launch package/file/test/exec, attach and connect', () => {
    const labels = dbg.configurationSnippets.map((s: { label: string }) => s.label);
    for (const want of ['Launch package', 'Launch file', 'Attach to process', 'Connect to server']) {
      assert.ok(labels.some((l: string) => l.endsWith(want)), want);
    }
    for (const s of dbg.configurationSnippets) {
      assert.strictEqual(s.body.type, 'dapgo');
    }
  });

  it('pins every devDependency to an exact version', () => {
    for (const [name, v] of Object.entries(pkg.devDependencies as Record<string, string>)) {
      assert.match(v, /^\d+\.\d+\.\d+$/, name);
    }
  });
});
