// Launch/attach configuration logic that does not need the VS Code API, so that it can be
// unit-tested with plain mocha. extension.ts wires it to VS Code.

import * as fs from 'fs';
import * as path from 'path';

export interface DebugConfig {
  type?: string;
  request?: string;
  name?: string;
  [key: string]: unknown;
}

/** An adapter started over stdio: the command and its arguments. */
export interface AdapterCommand {
  command: string;
  args: string[];
}

/** An adapter reached over TCP: a dapgo already serving with `dapgo --listen HOST:PORT`. */
export interface ServerAddress {
  host: string;
  port: number;
}

/** The configurations a new launch.json starts with (same as package.json's initialConfigurations). */
export function initialConfigurations(): DebugConfig[] {
  return [
    { name: 'Launch package', type: 'dapgo', request: 'launch', mode: 'debug', program: '${workspaceFolder}' },
    { name: 'Launch file', type: 'dapgo', request: 'launch', mode: 'debug', program: '${file}' },
    { name: 'Attach to process', type: 'dapgo', request: 'attach', mode: 'local', processId: '${command:pickProcess}' },
    { name: 'Connect to server', type: 'dapgo', request: 'launch', mode: 'debug', program: '${workspaceFolder}', host: '127.0.0.1', port: 4711 },
  ];
}

/** True when VS Code handed us no configuration at all (no launch.json, F5 on a file). */
export function isEmpty(config: DebugConfig): boolean {
  return !config.type && !config.request && !config.name;
}

/**
 * A launch configuration for the active editor's file: `mode: test` on the package of a
 * `_test.go` file, otherwise `mode: debug` on the file itself. A string is an error message.
 */
export function configForFile(file: string | undefined, languageId: string | undefined): DebugConfig | string {
  if (!file || (languageId !== 'go' && !file.endsWith('.go'))) {
    return 'dapgo: open a Go file to debug it, or add a configuration to launch.json (Run > Add Configuration...).';
  }
  if (file.endsWith('_test.go')) {
    return { type: 'dapgo', request: 'launch', name: 'Test package', mode: 'test', program: path.dirname(file) };
  }
  return { type: 'dapgo', request: 'launch', name: 'Launch file', mode: 'debug', program: file };
}

/**
 * Fill what dapgo needs before variables are substituted: an empty configuration becomes
 * "launch the active file"; a launch without `program` gets the active file; defaults for
 * `mode`. Returns an error message (string) when nothing sensible can be filled.
 */
export function resolveConfig(config: DebugConfig, file?: string, languageId?: string): DebugConfig | string {
  if (isEmpty(config)) {
    return configForFile(file, languageId);
  }
  const out: DebugConfig = { ...config };
  out.type = out.type || 'dapgo';
  if (!out.request) {
    out.request = 'launch';
  }
  if (!out.name) {
    out.name = out.request === 'attach' ? 'Attach to process' : 'Launch';
  }
  if (out.request === 'launch') {
    if (!out.mode) {
      out.mode = 'debug';
    }
    if (out.program === undefined || out.program === '') {
      const fromFile = configForFile(file, languageId);
      if (typeof fromFile === 'string') {
        return 'dapgo: the configuration has no "program", and no Go file is open to take it from.';
      }
      out.program = out.mode === 'test' ? path.dirname(file as string) : fromFile.program;
      if (!config.mode) {
        out.mode = fromFile.mode;
      }
    }
  } else if (out.request === 'attach') {
    if (!out.mode) {
      out.mode = 'local';
    }
  } else {
    return `dapgo: unknown request ${JSON.stringify(out.request)}; use "launch" or "attach".`;
  }
  return out;
}

/** True when an attach configuration still needs a process chosen. */
export function needsProcessId(config: DebugConfig): boolean {
  return config.request === 'attach' && (config.processId === undefined || config.processId === null || config.processId === '');
}

/**
 * As vscode-go does for Delve's DAP server: relative `program`, `cwd` and `output` are
 * relative to the workspace folder (`~` expanded); an empty `cwd` means none (dapgo then
 * runs the program in its package's or binary's folder).
 */
export function resolvePaths(config: DebugConfig, workspaceRoot: string | undefined): DebugConfig {
  const out: DebugConfig = { ...config };
  if (out.cwd === '') {
    delete out.cwd;
  }
  for (const key of ['program', 'cwd', 'output']) {
    const value = out[key];
    if (typeof value !== 'string' || value === '') {
      continue;
    }
    const expanded = expandPath(value);
    out[key] = path.isAbsolute(expanded) || !workspaceRoot ? expanded : path.join(workspaceRoot, expanded);
  }
  return out;
}

/** processId as dapgo wants it: a number ("1234" becomes 1234). Error message on junk. */
export function normalizeProcessId(config: DebugConfig): DebugConfig | string {
  if (config.request !== 'attach') {
    return config;
  }
  const raw = config.processId;
  if (typeof raw === 'number' && Number.isInteger(raw) && raw > 0) {
    return config;
  }
  if (typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) && Number(raw) > 0) {
    return { ...config, processId: Number(raw) };
  }
  return `dapgo: "processId" must be a process id, not ${JSON.stringify(raw)}.`;
}

/**
 * The dapgo server to connect to, when the configuration names `port` (and maybe `host`),
 * or `debugServer` (vscode-go's name for the same thing). Throws on a bad port.
 */
export function serverAddress(config: DebugConfig): ServerAddress | undefined {
  const raw = config.port ?? config.debugServer;
  if (raw === undefined || raw === null || raw === '') {
    return undefined;
  }
  const port = typeof raw === 'string' ? Number(raw) : raw;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`dapgo: "port" must be a TCP port number (1-65535), not ${JSON.stringify(raw)}`);
  }
  const host = typeof config.host === 'string' && config.host !== '' ? config.host : '127.0.0.1';
  return { host, port };
}

/** Look `name` up on PATH the way a shell would; a name with a slash is taken as a path. */
export function findExecutable(name: string, envPath: string | undefined = process.env.PATH): string | undefined {
  const isExec = (p: string): boolean => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (name.includes('/')) {
    return isExec(name) ? path.resolve(name) : undefined;
  }
  for (const dir of (envPath || '').split(path.delimiter)) {
    if (dir === '') {
      continue;
    }
    const candidate = path.join(dir, name);
    if (isExec(candidate)) {
      return candidate;
    }
  }
  return undefined;
}

/** Expand a leading `~` and `${env:NAME}` in the dapgo.path setting. */
export function expandPath(p: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = p.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, n: string) => env[n] ?? '');
  if (out === '~' || out.startsWith('~/')) {
    out = path.join(env.HOME || '', out.slice(1));
  }
  return out;
}

/**
 * dapgo's own environment additions from the `dapgo.env` setting (`${env:NAME}` and `~`
 * expanded; values that are not strings are ignored), or undefined when there are none.
 * VS Code merges them into the editor's environment when it starts dapgo.
 */
export function adapterEnv(setting: unknown, env: NodeJS.ProcessEnv = process.env): Record<string, string> | undefined {
  if (!setting || typeof setting !== 'object') {
    return undefined;
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(setting as Record<string, unknown>)) {
    if (typeof v === 'string') {
      out[k] = expandPath(v, env);
    }
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * The command line that starts dapgo over stdio, from the `dapgo.path` and `dapgo.args`
 * settings. Throws with a message that names the setting when dapgo cannot be found.
 */
export function adapterCommand(pathSetting: string | undefined, extraArgs: string[] = [], envPath?: string): AdapterCommand {
  const wanted = expandPath((pathSetting || '').trim() || 'dapgo');
  const found = findExecutable(wanted, envPath);
  if (!found) {
    throw new Error(
      `dapgo: cannot find the dapgo executable ${JSON.stringify(wanted)}` +
        (wanted.includes('/') ? '' : ' on the PATH of VS Code\'s extension host') +
        '. Install dapgo, or set "dapgo.path" to its full path (e.g. /path/to/dapgo/.venv/bin/dapgo)' +
        ' in your User settings (or Remote or Workspace settings). In code-server, Remote-SSH, WSL and' +
        ' Dev Containers windows the extension host has the login shell\'s PATH, not your terminal\'s.',
    );
  }
  return { command: found, args: [...extraArgs] };
}
