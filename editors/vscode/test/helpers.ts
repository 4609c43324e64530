// Shared by the mocha suites: where the repository, dapgo and the Go fixtures are, and how
// to start `dapgo --listen` on a free port.

import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** The dapgo repository: the nearest parent directory that has tests/fixtures/basic. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'tests', 'fixtures', 'basic', 'main.go'))) {
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) {
      throw new Error(`no tests/fixtures/basic above ${__dirname}`);
    }
    dir = up;
  }
}

/** The dapgo under test: $DAPGO, else the repository's .venv/bin/dapgo. */
export function dapgoPath(): string {
  return process.env.DAPGO || path.join(repoRoot(), '.venv', 'bin', 'dapgo');
}

/** The environment dapgo runs with: the venv's Go first on PATH, no toolchain downloads. */
export function adapterEnv(): NodeJS.ProcessEnv {
  const venvBin = path.dirname(dapgoPath());
  return { ...process.env, PATH: `${venvBin}${path.delimiter}${process.env.PATH || ''}`, GOTOOLCHAIN: 'local' };
}

export function fixtureDir(name: string): string {
  return path.join(repoRoot(), 'tests', 'fixtures', name);
}

/** The (file, 1-based line) of the `// @marker` comment in fixture `name`. */
export function marker(name: string, mark: string): { path: string; line: number } {
  const dir = fixtureDir(name);
  const re = new RegExp(`//\\s*@${mark}\\b`);
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.go')).sort()) {
    const file = path.join(dir, f);
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const i = lines.findIndex((l) => re.test(l));
    if (i >= 0) {
      return { path: file, line: i + 1 };
    }
  }
  throw new Error(`no // @${mark} in fixture ${name}`);
}

export interface Server {
  port: number;
  proc: cp.ChildProcess;
  stderr: () => string;
  stop: () => Promise<number | null>;
}

/** Start `dapgo --listen 127.0.0.1:0` and wait for its "listening on HOST:PORT" line. */
export function startServer(extraArgs: string[] = []): Promise<Server> {
  const argv = ['--listen', '127.0.0.1:0', ...extraArgs];
  return startCommand(dapgoPath(), argv);
}

/** Start `command args` (a dapgo --listen command line) and wait until it listens. */
export function startCommand(command: string, args: string[], expectPort?: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const proc = cp.spawn(command, args, { env: adapterEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    const timer = setTimeout(() => reject(new Error(`dapgo did not say it listens within 20 s; stderr: ${err}`)), 20000);
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`dapgo exited (${code}) before listening; stderr: ${err}`));
    });
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on \[?([0-9a-fA-F.:]+?)\]?:(\d+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        const port = Number(m[2]);
        if (expectPort !== undefined && port !== expectPort) {
          reject(new Error(`dapgo listens on ${port}, expected ${expectPort}`));
        }
        const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
        resolve({
          port,
          proc,
          stderr: () => err,
          stop: async () => {
            if (proc.exitCode === null && proc.signalCode === null) {
              proc.kill('SIGTERM');
            }
            return exited;
          },
        });
      }
    });
  });
}
