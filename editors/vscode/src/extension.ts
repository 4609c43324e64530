// The dapgo VS Code extension: starts dapgo over stdio (or connects to a running
// `dapgo --listen` server), fills in launch/attach configurations, picks processes.

import * as vscode from 'vscode';
import {
  DebugConfig,
  adapterCommand,
  adapterEnv,
  initialConfigurations,
  needsProcessId,
  normalizeProcessId,
  resolveConfig,
  resolvePaths,
  serverAddress,
} from './config';
import { listProcesses, quickPickItem } from './processes';

const TYPE = 'dapgo';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('dapgo.pickProcess', pickProcess),
    vscode.debug.registerDebugConfigurationProvider(TYPE, new ConfigurationProvider()),
    vscode.debug.registerDebugAdapterDescriptorFactory(TYPE, new DescriptorFactory()),
  );
}

export function deactivate(): void {
  // nothing to release: VS Code stops the adapters it started
}

/** Show a QuickPick of this machine's processes; resolves to the chosen pid (a string) or undefined. */
export async function pickProcess(): Promise<string | undefined> {
  const items = listProcesses().map(quickPickItem);
  const chosen = await vscode.window.showQuickPick(items, {
    title: 'Attach to process (dapgo)',
    placeHolder: 'Type a name, pid or part of the command line',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  return chosen?.pid;
}

class ConfigurationProvider implements vscode.DebugConfigurationProvider {
  provideDebugConfigurations(): vscode.DebugConfiguration[] {
    return initialConfigurations() as vscode.DebugConfiguration[];
  }

  async resolveDebugConfiguration(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const editor = vscode.window.activeTextEditor;
    const file = editor?.document.uri.scheme === 'file' ? editor.document.uri.fsPath : undefined;
    const resolved = resolveConfig(config as DebugConfig, file, editor?.document.languageId);
    if (typeof resolved === 'string') {
      await vscode.window.showErrorMessage(resolved);
      return undefined; // abort the launch
    }
    if (needsProcessId(resolved)) {
      const pid = await pickProcess();
      if (!pid) {
        return undefined; // the user cancelled the picker
      }
      resolved.processId = Number(pid);
    }
    return resolved as vscode.DebugConfiguration;
  }

  async resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    // `${command:pickProcess}` is substituted by now; a cancelled picker leaves it empty.
    if (needsProcessId(config as DebugConfig)) {
      return undefined;
    }
    const out = normalizeProcessId(config as DebugConfig);
    if (typeof out === 'string') {
      await vscode.window.showErrorMessage(out);
      return undefined;
    }
    let remote = false;
    try {
      remote = serverAddress(out) !== undefined;
    } catch {
      remote = true; // a bad port: the adapter factory says so
    }
    if (remote) {
      return out as vscode.DebugConfiguration; // paths are the remote server's
    }
    return resolvePaths(out, folder?.uri.fsPath) as vscode.DebugConfiguration;
  }
}

class DescriptorFactory implements vscode.DebugAdapterDescriptorFactory {
  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    const server = serverAddress(session.configuration as DebugConfig);
    if (server) {
      return new vscode.DebugAdapterServer(server.port, server.host);
    }
    const settings = vscode.workspace.getConfiguration('dapgo', session.workspaceFolder);
    const env = adapterEnv(settings.get('env'));
    const cmd = adapterCommand(settings.get<string>('path'), settings.get<string[]>('args') || [], env?.PATH);
    return new vscode.DebugAdapterExecutable(cmd.command, cmd.args, env ? { env } : undefined);
  }
}
