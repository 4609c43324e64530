// extension.ts against a stand-in `vscode` module (no VS Code here): activate() registers the
// provider, the factory and the pickProcess command; the factory starts dapgo over stdio or
// connects to host/port; the provider fills configurations and asks for a process.

import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Module = require('module');

interface Registered {
  commands: Map<string, (...a: unknown[]) => unknown>;
  providers: Map<string, any>;
  factories: Map<string, any>;
}

function fakeVscode(reg: Registered, state: { editorFile?: string; pick?: (items: any[]) => any; settings: Record<string, unknown>; errors: string[] }) {
  class DebugAdapterExecutable {
    constructor(public command: string, public args: string[]) {}
  }
  class DebugAdapterServer {
    constructor(public port: number, public host?: string) {}
  }
  return {
    DebugAdapterExecutable,
    DebugAdapterServer,
    commands: { registerCommand: (id: string, fn: any) => (reg.commands.set(id, fn), { dispose() {} }) },
    debug: {
      registerDebugConfigurationProvider: (t: string, p: any) => (reg.providers.set(t, p), { dispose() {} }),
      registerDebugAdapterDescriptorFactory: (t: string, f: any) => (reg.factories.set(t, f), { dispose() {} }),
    },
    window: {
      get activeTextEditor() {
        return state.editorFile
          ? { document: { uri: { scheme: 'file', fsPath: state.editorFile }, languageId: state.editorFile.endsWith('.go') ? 'go' : 'plaintext' } }
          : undefined;
      },
      showQuickPick: async (items: any[]) => (state.pick ? state.pick(items) : undefined),
      showErrorMessage: async (m: string) => {
        state.errors.push(m);
        return undefined;
      },
    },
    workspace: { getConfiguration: () => ({ get: (k: string) => state.settings[k] }) },
  };
}

describe('extension.ts with a stand-in vscode module', () => {
  const reg: Registered = { commands: new Map(), providers: new Map(), factories: new Map() };
  const state: { editorFile?: string; pick?: (items: any[]) => any; settings: Record<string, unknown>; errors: string[] } = { settings: {}, errors: [] };
  const origLoad = Module._load;
  let tmp: string;

  before(() => {
    const fake = fakeVscode(reg, state);
    Module._load = function (request: string, ...rest: unknown[]) {
      return request === 'vscode' ? fake : origLoad.call(this, request, ...rest);
    };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ext = require('../src/extension');
    ext.activate({ subscriptions: [] });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dapgo-ext-'));
  });

  after(() => {
    Module._load = origLoad;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('activate registers the dapgo provider, factory and dapgo.pickProcess', () => {
    assert.ok(reg.providers.has('dapgo'));
    assert.ok(reg.factories.has('dapgo'));
    assert.ok(reg.commands.has('dapgo.pickProcess'));
  });

  it('the factory starts dapgo.path over stdio, with dapgo.args', () => {
    const exe = path.join(tmp, 'my-dapgo');
    fs.writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
    state.settings = { path: exe, args: ['--log-level', 'DEBUG'] };
    const d = reg.factories.get('dapgo').createDebugAdapterDescriptor({ configuration: { request: 'launch' } });
    assert.strictEqual(d.constructor.name, 'DebugAdapterExecutable');
    assert.strictEqual(d.command, exe);
    assert.deepStrictEqual(d.args, ['--log-level', 'DEBUG']);
  });

  it('the factory connects to host/port when the configuration names them', () => {
    const d = reg.factories.get('dapgo').createDebugAdapterDescriptor({ configuration: { request: 'launch', host: '127.0.0.1', port: 4711 } });
    assert.strictEqual(d.constructor.name, 'DebugAdapterServer');
    assert.strictEqual(d.port, 4711);
    assert.strictEqual(d.host, '127.0.0.1');
  });

  it('the factory says which setting to fix when dapgo is missing', () => {
    state.settings = { path: path.join(tmp, 'nope') };
    assert.throws(() => reg.factories.get('dapgo').createDebugAdapterDescriptor({ configuration: {} }), /dapgo\.path/);
  });

  it('an empty launch.json launches the active Go file', async () => {
    state.editorFile = '/src/app/main.go';
    const cfg = await reg.providers.get('dapgo').resolveDebugConfiguration(undefined, {});
    assert.deepStrictEqual(cfg, { type: 'dapgo', request: 'launch', name: 'Launch file', mode: 'debug', program: '/src/app/main.go' });
  });

  it('without a Go file open, an empty launch.json shows an error and launches nothing', async () => {
    state.editorFile = undefined;
    state.errors = [];
    assert.strictEqual(await reg.providers.get('dapgo').resolveDebugConfiguration(undefined, {}), undefined);
    assert.strictEqual(state.errors.length, 1);
  });

  it('attach without processId shows the process QuickPick and uses the chosen pid', async () => {
    let shown: any[] = [];
    state.pick = (items) => {
      shown = items;
      return items.find((i: any) => i.pid === String(process.ppid)) || items[0];
    };
    const cfg = await reg.providers.get('dapgo').resolveDebugConfiguration(undefined, { type: 'dapgo', request: 'attach', name: 'a' });
    assert.ok(shown.length > 0 && shown.every((i) => /^\d+$/.test(i.pid)));
    assert.strictEqual(typeof cfg.processId, 'number');
    assert.strictEqual(cfg.mode, 'local');
  });

  it('attach: a cancelled picker cancels the session; ${command:pickProcess} resolves through the command', async () => {
    state.pick = () => undefined;
    assert.strictEqual(await reg.providers.get('dapgo').resolveDebugConfiguration(undefined, { type: 'dapgo', request: 'attach', name: 'a' }), undefined);
    state.pick = (items) => items[0];
    const pid = await reg.commands.get('dapgo.pickProcess')!();
    assert.match(String(pid), /^\d+$/);
    const after = await reg.providers.get('dapgo').resolveDebugConfigurationWithSubstitutedVariables(undefined, { type: 'dapgo', request: 'attach', processId: pid });
    assert.strictEqual(after.processId, Number(pid));
  });

  it('provideDebugConfigurations returns the four initial configurations', () => {
    const cfgs = reg.providers.get('dapgo').provideDebugConfigurations();
    assert.strictEqual(cfgs.length, 4);
  });
});
