// Drives the real VS Code (code-server in Debian's chromium, through playwright-core)
// through one dapgo debug session, as a user does: open the Go file (Ctrl+P), go to the
// breakpoint line (Ctrl+G), F9, "Debug: Select and Start Debugging" with the launch.json
// entry, (for attach: choose the pid in the extension's process picker), wait for the
// stopped frame, read the local from the Variables view (expanding Locals where it is
// collapsed), evaluate in the Debug Console, F5 to continue, wait for the session's end.
// Where asked, also logpoints (metric points) through "Debug: Add Logpoint..." before the
// start, and console commands (`dapgo metrics`) at the stop.
// Screenshots of every step (and of a failure) go to `shots`. Prints one JSON line: what
// it saw (tests/editors/test_real_vscode.py asserts on it).
//
//   node drive.js '{"url": ..., "config": "Launch package", "file": "main.go", "line": 16,
//                   "local": "scaled", "evaluate": "scaled * 2", "shots": DIR, "pid": N?,
//                   "logpoints": [{"line": N, "message": "{#count}"}]?, "commands": [..]?}'

'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const args = JSON.parse(process.argv[2]);
const seen = { steps: [] };
const t0 = Date.now();
let step = 0;

async function shot(page, name) {
  step += 1;
  const file = path.join(args.shots, `${String(step).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file }).catch(() => undefined);
  seen.steps.push(`${name} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}

async function palette(page, command) {
  await page.keyboard.press('Control+Shift+P'); // (F1 in the Debug Console's input is the input's own)
  const input = page.locator('.quick-input-widget input').first();
  await input.waitFor({ state: 'visible', timeout: 10000 });
  await input.fill(`>${command}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: command }).first()
    .waitFor({ state: 'visible', timeout: 10000 });
  await page.keyboard.press('Enter');
}

// The text of the Variables view row of `name` ("name: value"), expanding the Locals scope
// when no row shows the variable (dapgo may list it under Locals while another scope is
// the one VS Code expanded).
async function readVariable(page, name) {
  const view = page.locator('.debug-variables');
  // a variable's row reads "name = value" (older VS Code: "name: value")
  const row = view.locator('.monaco-list-row', { hasText: new RegExp(`^\\s*${name}\\s*[=:]`) }).first();
  try {
    await row.waitFor({ state: 'visible', timeout: 5000 });
  } catch {
    const locals = view.locator('.monaco-list-row', { has: page.locator('.scope', { hasText: /^Locals$/ }) }).first();
    await locals.waitFor({ state: 'visible', timeout: 10000 });
    if ((await locals.getAttribute('aria-expanded')) !== 'true') {
      await locals.click();
      seen.expandedLocals = true;
    }
    await row.waitFor({ state: 'visible', timeout: 10000 });
  }
  const text = (await row.innerText()).replace(/\s+/g, ' ').trim();
  return { row: text, value: text.replace(/^[^=:]*[=:]\s*/, '') };
}

async function main() {
  fs.mkdirSync(args.shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: args.chromium || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  try {
    await page.goto(args.url, { waitUntil: 'domcontentloaded', timeout: 60000 });
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60000 });
    // the explorer lists the workspace: the workbench is ready for keys
    await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'main.go' }).first()
      .waitFor({ state: 'visible', timeout: 60000 });
    await shot(page, 'workbench');

    await page.keyboard.press('Control+P');
    const quick = page.locator('.quick-input-widget input').first();
    await quick.waitFor({ state: 'visible' });
    await quick.fill(args.file);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: args.file }).first().waitFor({ state: 'visible' });
    await page.keyboard.press('Enter');
    await page.locator('.monaco-editor .view-lines').first().waitFor({ state: 'visible' });
    await page.locator(`.tab.active[aria-label*="${args.file}"]`).first().waitFor({ state: 'visible' });
    await page.locator('.monaco-editor textarea').first().focus();
    await page.keyboard.press('Control+G');
    await quick.waitFor({ state: 'visible' });
    await quick.fill(`:${args.line}`); // Go to Line is quick open's ":" mode
    await page.keyboard.press('Enter');
    await page.keyboard.press('F9');
    await page.locator('.codicon-debug-breakpoint, .codicon-debug-breakpoint-unverified').first()
      .waitFor({ state: 'visible', timeout: 10000 });
    await shot(page, 'breakpoint-set');

    // logpoints (metric points such as "{#latency by team}"): "Debug: Add Logpoint..." on
    // the line opens the breakpoint widget in the editor; type the message, Enter
    for (const lp of args.logpoints || []) {
      await page.locator('.editor-group-container .monaco-editor textarea').first().focus();
      await page.keyboard.press('Control+G');
      await quick.waitFor({ state: 'visible' });
      await quick.fill(`:${lp.line}`);
      await page.keyboard.press('Enter');
      await palette(page, 'Debug: Add Logpoint...');
      const widget = page.locator('.breakpoint-widget').first();
      await widget.waitFor({ state: 'visible', timeout: 10000 });
      const lines = widget.locator('.view-lines').first();
      const text = async () => (await lines.innerText()).replace(/\u00a0/g, ' ').trim();
      // the widget's input takes keys once its editor is ready: insert until it shows the
      // message (as text: typed keys would have the editor close the brace on its own)
      for (let i = 0; i < 5 && (await text()) !== lp.message; i++) {
        await widget.locator('.monaco-editor').first().click();
        await page.keyboard.press('Control+A');
        await page.keyboard.press('Delete');
        await page.keyboard.insertText(lp.message);
        await page.waitForTimeout(200);
      }
      seen.logpointInputs = seen.logpointInputs || [];
      seen.logpointInputs.push(await text());
      await page.keyboard.press('Enter');
      await widget.waitFor({ state: 'hidden', timeout: 10000 });
    }
    if (args.logpoints) {
      await page.locator('.codicon-debug-breakpoint-log, .codicon-debug-breakpoint-log-unverified').first()
        .waitFor({ state: 'visible', timeout: 10000 });
      await shot(page, 'logpoints-set');
    }

    await palette(page, 'Debug: Select and Start Debugging');
    await quick.waitFor({ state: 'visible' });
    // the picker is quick open's "debug " mode: keep that prefix, type the entry's name
    await page.waitForFunction(() => {
      const el = document.querySelector('.quick-input-widget input');
      return el && !el.value.startsWith('>');
    });
    const prefix = await quick.inputValue();
    await quick.fill(`${prefix}${args.config}`);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: args.config }).first().waitFor({ state: 'visible' });
    await page.keyboard.press('Enter');
    if (args.pid) {
      // the extension's process picker (dapgo.pickProcess): find our pid
      await page.locator('.quick-input-widget', { hasText: 'Attach to process' }).first().waitFor({ state: 'visible' });
      await quick.fill(`pid ${args.pid}`);
      const item = page.locator('.quick-input-list .monaco-list-row', { hasText: new RegExp(`pid ${args.pid}\\b`) }).first();
      await item.waitFor({ state: 'visible' });
      await shot(page, 'process-picker');
      await item.click();
    }
    await shot(page, 'started');

    // the stopped frame: the editor's top-stack-frame line decoration and the call stack
    // ... or an error dialog ("cannot find the dapgo executable", "Error on launch: ...")
    const dialog = page.locator('.monaco-dialog-box').first();
    // ... or the end of the session (the debug toolbar gone) without a stop
    const stopTimeout = args.stopTimeout || 120000;
    const toolbar = page.locator('.debug-toolbar').first();
    let stopped = false;
    await Promise.race([
      page.locator('.debug-top-stack-frame-line').first().waitFor({ state: 'visible', timeout: stopTimeout })
        .then(() => { stopped = true; }),
      toolbar.waitFor({ state: 'visible', timeout: stopTimeout })
        .then(() => toolbar.waitFor({ state: 'hidden', timeout: stopTimeout }))
        .then(() => {
          if (!stopped) {
            throw new Error('the debug session ended without stopping at the breakpoint');
          }
        }),
      dialog.waitFor({ state: 'visible', timeout: stopTimeout }).then(async () => {
        throw new Error(`VS Code showed a dialog: ${(await dialog.innerText()).replace(/\s+/g, ' ')}`);
      }),
    ]);
    const stack = page.locator('.debug-call-stack');
    const frame = stack.locator('.monaco-list-row', { has: page.locator('.stack-frame') }).first();
    try {
      await frame.waitFor({ state: 'visible', timeout: 5000 });
      seen.threadExpanded = true;
    } catch {
      // VS Code left the stopped goroutine's row collapsed: open it
      seen.threadExpanded = false;
      const thread = stack.locator('.monaco-list-row[aria-expanded="false"]').first();
      await thread.locator('.monaco-tl-twistie').click();
      await frame.waitFor({ state: 'visible' });
    }
    seen.frame = (await frame.innerText()).replace(/\s+/g, ' ').trim();
    seen.editorLine = await page.evaluate(() => {
      const pos = document.querySelector('.statusbar-item[id$="status.editor.selection"]');
      return pos ? pos.textContent : '';
    });
    await shot(page, 'stopped');

    seen.local = await readVariable(page, args.local);
    await shot(page, 'locals');

    await page.keyboard.press('Control+Shift+Y'); // the Debug Console
    const replInput = page.locator('.repl-input-wrapper .monaco-editor textarea').first();
    await replInput.waitFor({ state: 'attached' });
    await page.locator('.repl-input-wrapper .monaco-editor').first().click();
    await page.keyboard.type(args.evaluate);
    await page.keyboard.press('Enter');
    // the answer is the row after the echo of the expression
    const answer = await page.waitForFunction((expr) => {
      const rows = [...document.querySelectorAll('.repl .monaco-list-row')]
        .sort((a, b) => Number(a.getAttribute('data-index')) - Number(b.getAttribute('data-index')))
        .map((r) => r.innerText.trim());
      const echo = rows.findIndex((t) => t.endsWith(expr));
      return echo >= 0 && echo + 1 < rows.length ? rows[echo + 1] : null;
    }, args.evaluate, { timeout: 15000 });
    seen.evaluate = (await answer.jsonValue()).trim();
    await shot(page, 'evaluate');

    // console commands (`dapgo metrics`): their answers, as the Debug Console shows them
    // (the console's rows before them, which their answers scroll out of view, first)
    seen.consoleBefore = (await page.locator('.repl').first().innerText()).trim();
    seen.commands = {};
    for (const command of args.commands || []) {
      await page.locator('.repl-input-wrapper .monaco-editor').first().click();
      await page.keyboard.type(command);
      await page.keyboard.press('Enter');
      const shown = await page.waitForFunction((expr) => {
        const rows = [...document.querySelectorAll('.repl .monaco-list-row')]
          .sort((a, b) => Number(a.getAttribute('data-index')) - Number(b.getAttribute('data-index')))
          .map((r) => r.innerText);
        const echo = rows.findIndex((t) => t.trim().endsWith(expr));
        return echo >= 0 && echo + 1 < rows.length ? rows[echo + 1] : null;
      }, command, { timeout: 15000 });
      seen.commands[command] = await shown.jsonValue();
      await shot(page, `console-${command.replace(/\W+/g, '-')}`);
    }

    // remove the breakpoint (the launched loop would stop again), then continue with F5
    await page.locator('.editor-group-container .monaco-editor textarea').first().focus();
    await page.keyboard.press('Control+G');
    await quick.waitFor({ state: 'visible' });
    await quick.fill(`:${args.line}`);
    await page.keyboard.press('Enter');
    await page.keyboard.press('F9');
    await page.locator('.editor-group-container .codicon-debug-breakpoint, .editor-group-container .codicon-debug-breakpoint-unverified, .editor-group-container .codicon-debug-stackframe-focused-breakpoint')
      .first().waitFor({ state: 'hidden', timeout: 10000 }).catch(() => undefined);
    await shot(page, 'breakpoint-removed');
    if (args.stopFile) {
      fs.writeFileSync(args.stopFile, ''); // the attached program loops until it exists
    }
    await page.keyboard.press('F5');
    await page.locator('.debug-toolbar').first().waitFor({ state: 'hidden', timeout: 60000 });
    await shot(page, 'ended');
    if (args.logpoints) {
      // the workspace keeps its breakpoints: leave none for the next session
      await palette(page, 'Remove All Breakpoints');
      await page.locator('.codicon-debug-breakpoint-log, .codicon-debug-breakpoint-log-unverified').first()
        .waitFor({ state: 'hidden', timeout: 10000 });
    }
    seen.console = (await page.locator('.repl').first().innerText()).trim();
    seen.ok = true;
  } catch (err) {
    seen.error = String(err && err.stack ? err.stack : err);
    await shot(page, 'failure');
    seen.notifications = await page.locator('.notifications-toasts, .notification-toast').allInnerTexts().catch(() => []);
    seen.dialogs = await page.locator('.monaco-dialog-box').allInnerTexts().catch(() => []);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(seen) + '\n');
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ...seen, error: String(err && err.stack ? err.stack : err) }) + '\n');
});
