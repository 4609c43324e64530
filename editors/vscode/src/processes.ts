// The process list for attach, read from /proc (Linux only, like dapgo itself).

import * as fs from 'fs';
import * as path from 'path';

export interface ProcessInfo {
  pid: number;
  /** The short name (/proc/PID/comm). */
  name: string;
  /** The full command line, arguments separated by spaces. */
  commandLine: string;
  /** The executable's path, when we may read it. */
  exe?: string;
  /** The user id that owns the process. */
  uid?: number;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

/** Every process in `procRoot` (default /proc) but this one, newest (highest pid) first. */
export function listProcesses(procRoot = '/proc', self: number = process.pid): ProcessInfo[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(procRoot);
  } catch {
    return [];
  }
  const out: ProcessInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) {
      continue;
    }
    const pid = Number(entry);
    if (pid === self) {
      continue;
    }
    const dir = path.join(procRoot, entry);
    const comm = readText(path.join(dir, 'comm'));
    if (comm === undefined) {
      continue; // gone meanwhile
    }
    const cmdline = (readText(path.join(dir, 'cmdline')) || '').replace(/\0+$/, '').split('\0').join(' ');
    if (cmdline === '') {
      continue; // a kernel thread or a zombie: nothing to attach to
    }
    let exe: string | undefined;
    try {
      exe = fs.readlinkSync(path.join(dir, 'exe'));
    } catch {
      exe = undefined;
    }
    let uid: number | undefined;
    const status = readText(path.join(dir, 'status'));
    const m = status && /^Uid:\s+(\d+)/m.exec(status);
    if (m) {
      uid = Number(m[1]);
    }
    out.push({ pid, name: comm.trim(), commandLine: cmdline, exe, uid });
  }
  out.sort((a, b) => b.pid - a.pid);
  return out;
}

/** What the QuickPick shows for one process. */
export function quickPickItem(p: ProcessInfo): { label: string; description: string; detail: string; pid: string } {
  return {
    label: p.name,
    description: `pid ${p.pid}`,
    detail: p.commandLine,
    pid: String(p.pid),
  };
}
