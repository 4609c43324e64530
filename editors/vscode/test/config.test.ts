// The configuration logic behind the DebugConfigurationProvider and the adapter factory.

import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  adapterCommand,
  adapterEnv,
  expandPath,
  findExecutable,
  needsProcessId,
  normalizeProcessId,
  resolveConfig,
  resolvePaths,
  serverAddress,
} from '../src/config';
import { listProcesses, quickPickItem } from '../src/processes';

describe('configuration provider logic', () => {
  it('an empty launch.json debugs the active Go file', () => {
    assert.deepStrictEqual(resolveConfig({}, '/src/app/main.go', 'go'), {
      type: 'dapgo', request: 'launch', name: 'Launch file', mode: 'debug', program: '/src/app/main.go',
    });
  });

  it('an empty launch.json on a _test.go file debugs the package tests', () => {
    assert.deepStrictEqual(resolveConfig({}, '/src/app/app_test.go', 'go'), {
      type: 'dapgo', request: 'launch', name: 'Test package', mode: 'test', program: '/src/app',
    });
  });

  it('an empty launch.json with no Go file open is an error message', () => {
    assert.match(resolveConfig({}, '/src/README.md', 'markdown') as string, /open a Go file/);
    assert.match(resolveConfig({}, undefined, undefined) as string, /open a Go file/);
  });

  it('a launch without program takes the active file; mode defaults to debug', () => {
    const out = resolveConfig({ type: 'dapgo', request: 'launch', name: 'x' }, '/src/app/main.go', 'go');
    assert.deepStrictEqual(out, { type: 'dapgo', request: 'launch', name: 'x', mode: 'debug', program: '/src/app/main.go' });
    const test = resolveConfig({ type: 'dapgo', request: 'launch', name: 'x', mode: 'test' }, '/src/app/main.go', 'go');
    assert.strictEqual((test as { program: string }).program, '/src/app');
  });

  it('a complete launch configuration is left alone', () => {
    const cfg = { type: 'dapgo', request: 'launch', name: 'x', mode: 'exec', program: '/bin/app', args: ['1'], env: { A: null } };
    assert.deepStrictEqual(resolveConfig(cfg, undefined, undefined), cfg);
  });

  it('attach defaults mode local and asks for a process only when processId is missing', () => {
    const out = resolveConfig({ type: 'dapgo', request: 'attach', name: 'a' }) as Record<string, unknown>;
    assert.strictEqual(out.mode, 'local');
    assert.strictEqual(needsProcessId(out), true);
    assert.strictEqual(needsProcessId({ request: 'attach', processId: '${command:pickProcess}' }), false);
    assert.strictEqual(needsProcessId({ request: 'attach', processId: 42 }), false);
    assert.strictEqual(needsProcessId({ request: 'launch' }), false);
  });

  it('processId "1234" becomes 1234; junk is an error message', () => {
    assert.deepStrictEqual(normalizeProcessId({ request: 'attach', processId: ' 1234 ' }), { request: 'attach', processId: 1234 });
    assert.deepStrictEqual(normalizeProcessId({ request: 'attach', processId: 7 }), { request: 'attach', processId: 7 });
    assert.match(normalizeProcessId({ request: 'attach', processId: 'abc' }) as string, /processId/);
    assert.match(normalizeProcessId({ request: 'attach', processId: -1 }) as string, /processId/);
  });

  it('an unknown request is an error message', () => {
    assert.match(resolveConfig({ type: 'dapgo', request: 'bogus', name: 'x' }) as string, /unknown request/);
  });
});

describe('adapter descriptor logic', () => {
  it('host/port (or debugServer) means connect to a running dapgo', () => {
    assert.strictEqual(serverAddress({ request: 'launch' }), undefined);
    assert.deepStrictEqual(serverAddress({ port: 4711 }), { host: '127.0.0.1', port: 4711 });
    assert.deepStrictEqual(serverAddress({ host: '::1', port: '4712' }), { host: '::1', port: 4712 });
    assert.deepStrictEqual(serverAddress({ debugServer: 4713 }), { host: '127.0.0.1', port: 4713 });
    assert.throws(() => serverAddress({ port: 70000 }), /port/);
    assert.throws(() => serverAddress({ port: 'abc' }), /port/);
  });

  it('dapgo.path: a name is looked up on PATH, a path is used as is, a missing one names the setting', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dapgo-ext-'));
    const exe = path.join(dir, 'dapgo');
    fs.writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'notexec'), '', { mode: 0o644 });
    try {
      assert.deepStrictEqual(adapterCommand(undefined, [], `/nonexistent:${dir}`), { command: exe, args: [] });
      assert.deepStrictEqual(adapterCommand('', ['--log-level', 'DEBUG'], dir), { command: exe, args: ['--log-level', 'DEBUG'] });
      assert.deepStrictEqual(adapterCommand(exe, [], ''), { command: exe, args: [] });
      assert.strictEqual(findExecutable('notexec', dir), undefined);
      assert.throws(() => adapterCommand('dapgo', [], '/nonexistent'), /dapgo\.path.*User settings.*login shell's PATH/);
      assert.throws(() => adapterCommand(path.join(dir, 'missing'), [], dir), /dapgo\.path/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('relative program, cwd and output are relative to the workspace folder (vscode-go)', () => {
    assert.deepStrictEqual(resolvePaths({ request: 'launch', program: './cmd/app', cwd: '', output: 'bin/app', args: ['x'] }, '/ws'),
      { request: 'launch', program: '/ws/cmd/app', output: '/ws/bin/app', args: ['x'] });
    assert.deepStrictEqual(resolvePaths({ request: 'launch', program: '/abs/main.go', cwd: 'run' }, '/ws'),
      { request: 'launch', program: '/abs/main.go', cwd: '/ws/run' });
    assert.deepStrictEqual(resolvePaths({ request: 'launch', program: 'x' }, undefined), { request: 'launch', program: 'x' });
  });

  it('dapgo.env: expanded, strings only, undefined when empty', () => {
    assert.deepStrictEqual(adapterEnv({ PATH: '/opt/go/bin:${env:PATH}', DAPGO_GO: '~/go/bin/go', N: 3 }, { PATH: '/usr/bin', HOME: '/h' }),
      { PATH: '/opt/go/bin:/usr/bin', DAPGO_GO: '/h/go/bin/go' });
    assert.strictEqual(adapterEnv({}), undefined);
    assert.strictEqual(adapterEnv(undefined), undefined);
  });

  it('expands ~ and ${env:NAME} in dapgo.path', () => {
    assert.strictEqual(expandPath('~/bin/dapgo', { HOME: '/home/u' }), '/home/u/bin/dapgo');
    assert.strictEqual(expandPath('${env:D}/dapgo', { D: '/opt' }), '/opt/dapgo');
  });
});

describe('process picker', () => {
  it('lists processes from /proc, newest first, without itself', () => {
    const procs = listProcesses();
    assert.ok(procs.length > 0);
    assert.ok(!procs.some((p) => p.pid === process.pid));
    assert.ok(procs.some((p) => p.pid === process.ppid) || procs.length > 0);
    for (let i = 1; i < procs.length; i++) {
      assert.ok(procs[i - 1].pid > procs[i].pid);
    }
    const item = quickPickItem(procs[0]);
    assert.strictEqual(item.pid, String(procs[0].pid));
    assert.match(item.description, /^pid \d+$/);
  });

  it('reads a fake /proc: name, command line, skips kernel threads', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dapgo-proc-'));
    try {
      const mk = (pid: number, comm: string, cmdline: string) => {
        fs.mkdirSync(path.join(root, String(pid)));
        fs.writeFileSync(path.join(root, String(pid), 'comm'), comm + '\n');
        fs.writeFileSync(path.join(root, String(pid), 'cmdline'), cmdline);
        fs.writeFileSync(path.join(root, String(pid), 'status'), `Name:\t${comm}\nUid:\t1000\t1000\t1000\t1000\n`);
      };
      mk(10, 'server', '/usr/bin/server\0--port\x004711\0');
      mk(2, 'kthreadd', '');
      mk(300, 'worker', './worker\0');
      fs.mkdirSync(path.join(root, 'self'));
      const procs = listProcesses(root, -1);
      assert.deepStrictEqual(procs.map((p) => [p.pid, p.name, p.commandLine, p.uid]), [
        [300, 'worker', './worker', 1000],
        [10, 'server', '/usr/bin/server --port 4711', 1000],
      ]);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
