-- Drives one debug session in headless Neovim with the REAL nvim-dap (on the runtimepath,
-- from ../shared/editors) and editors/nvim's dapgo module, as a user would: open the Go
-- file, put the cursor on the breakpoint line, dap.set_breakpoint(), dap.run() one of the
-- module's configurations, wait for the stop, read the frame nvim-dap jumped to, a local
-- through scopes/variables and an evaluate through the session (and, where asked, set
-- logpoints such as metric points and evaluate console commands), clear the breakpoints,
-- dap.continue() to the program's exit, then check that the debuggee and the adapter
-- process nvim-dap started are gone. Writes what it saw as JSON to $DAPGO_OUT; any failure
-- is recorded there as `error` (tests/editors/test_real_nvim.py asserts on the JSON).

local env = vim.env
local out_path = assert(env.DAPGO_OUT, 'DAPGO_OUT is not set')
local result = { nvim = vim.version(), notes = {}, events = {} }
local uv = vim.loop

local function write_result()
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.json.encode(result))
  f:close()
end

local function note(msg)
  table.insert(result.events, string.format('%.2f %s', uv.hrtime() / 1e9, msg))
end

-- Every notification nvim-dap shows (errors, "Debug adapter didn't respond", ...).
vim.notify = function(msg, level)
  table.insert(result.notes, { msg = tostring(msg), level = level })
end

-- an error nvim-dap reported (e.g. "Error on launch: ...") ends the wait at once
local function failed()
  for _, n in ipairs(result.notes) do
    if (n.level or 0) >= vim.log.levels.ERROR then
      return n.msg
    end
  end
end

local function wait_for(what, timeout_ms, cond)
  if not vim.wait(timeout_ms, function()
    return cond() or failed() ~= nil
  end, 20) or (failed() and not cond()) then
    if failed() then
      error(string.format('nvim-dap reported "%s" while waiting for %s', failed(), what))
    end
    error(string.format('timed out after %d ms waiting for %s', timeout_ms, what))
  end
  note(what)
end

local function cmdline_has(pid, needle)
  local f = io.open('/proc/' .. pid .. '/cmdline', 'rb')
  if not f then
    return false
  end
  local s = f:read('*a') or ''
  f:close()
  return s:find(needle, 1, true) ~= nil
end

-- pids of live processes whose command line contains `needle`
local function processes_with(needle)
  local found = {}
  for _, name in ipairs(vim.fn.readdir('/proc')) do
    if name:match('^%d+$') and tonumber(name) ~= vim.fn.getpid() and cmdline_has(name, needle) then
      local stat = io.open('/proc/' .. name .. '/stat')
      local state = stat and stat:read('*l') or ''
      if stat then
        stat:close()
      end
      if not state:match('^%d+ %b() Z') then -- a zombie has exited
        table.insert(found, tonumber(name))
      end
    end
  end
  return found
end

local function pid_alive(pid)
  local f = io.open('/proc/' .. pid .. '/stat')
  if not f then
    return false
  end
  local stat = f:read('*l') or ''
  f:close()
  return not stat:match('^%d+ %b() Z')
end

local function request(session, command, args)
  local done, err, resp = false, nil, nil
  session:request(command, args, function(e, r)
    err, resp, done = e, r, true
  end)
  wait_for(command .. ' response', 30000, function()
    return done
  end)
  if err then
    error(command .. ' failed: ' .. vim.inspect(err))
  end
  return resp
end

local function run()
  local dap = require('dap')
  local scenario = assert(env.DAPGO_SCENARIO)
  local file, line = assert(env.DAPGO_FILE), tonumber(assert(env.DAPGO_LINE))
  local marker = assert(env.DAPGO_LOG) -- dapgo's --log-file: names the adapter process nvim-dap starts
  local opts = {
    path = assert(env.DAPGO_PATH),
    transport = env.DAPGO_TRANSPORT or 'stdio',
    args = { '--log-file', marker },
  }
  if env.DAPGO_PORT then
    opts.server = { host = '127.0.0.1', port = tonumber(env.DAPGO_PORT) }
  end
  require('dapgo').setup(opts)
  result.adapter_options = (dap.adapters['dapgo-' .. opts.transport] or {}).options

  local names = {
    launch_file = 'dapgo: Launch file',
    launch_package = 'dapgo: Launch package',
    attach = 'dapgo: Attach to process',
    connect = 'dapgo: Connect to server',
  }
  local config
  for _, c in ipairs(dap.configurations.go) do
    if c.name == names[scenario] then
      config = c
    end
  end
  assert(config, 'no configuration ' .. tostring(names[scenario]))
  if env.DAPGO_BUILD_FLAGS then
    config = vim.tbl_extend('force', config, { buildFlags = env.DAPGO_BUILD_FLAGS })
  end

  local debuggee
  if scenario == 'attach' then
    debuggee = tonumber(assert(env.DAPGO_PID))
    -- nvim-dap's process picker (dap.utils.pick_process) shows vim.ui.select: choose our pid
    vim.ui.select = function(items, _, on_choice)
      for _, item in ipairs(items) do
        if tonumber(item.pid) == debuggee then
          result.picked = item.pid
          return on_choice(item)
        end
      end
      on_choice(nil)
    end
  end

  local key = 'dapgo-real-test'
  dap.listeners.after.event_stopped[key] = function(_, body)
    result.stopped = result.stopped or body
    note('stopped ' .. tostring(body.reason))
  end
  dap.listeners.after.event_exited[key] = function(_, body)
    result.exit_code = body.exitCode
    note('exited')
  end
  dap.listeners.after.event_terminated[key] = function()
    result.terminated = true
    note('terminated')
  end
  dap.listeners.after.event_output[key] = function(_, body)
    local pid = (body.output or ''):match('editors: pid (%d+)')
    if pid then
      debuggee = debuggee or tonumber(pid)
    end
    result.output = (result.output or '') .. (body.output or '')
  end

  -- every setBreakpoints answer, as nvim-dap got it (verified, message per breakpoint)
  result.set_breakpoints = {}
  dap.listeners.after.setBreakpoints[key] = function(_, err, resp)
    table.insert(result.set_breakpoints, err and { error = vim.inspect(err) } or resp.breakpoints)
  end

  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  vim.api.nvim_win_set_cursor(0, { line, 0 })
  dap.set_breakpoint()
  -- logpoints (metric points such as "{#latency by team}"), each on its line
  for _, lp in ipairs(vim.json.decode(env.DAPGO_LOGPOINTS or '[]')) do
    vim.api.nvim_win_set_cursor(0, { lp.line, 0 })
    dap.set_breakpoint(nil, nil, lp.message)
  end
  vim.api.nvim_win_set_cursor(0, { line, 0 })
  local t0 = uv.hrtime()
  dap.run(config)

  wait_for('the stop at the breakpoint', tonumber(env.DAPGO_STOP_TIMEOUT_MS or '90000'), function()
    if result.terminated and not result.stopped then
      error('the session ended without stopping at the breakpoint')
    end
    local s = dap.session()
    return s ~= nil and s.stopped_thread_id ~= nil and s.current_frame ~= nil
  end)
  result.seconds_to_stop = (uv.hrtime() - t0) / 1e9
  local s = dap.session()
  local frame = s.current_frame
  result.frame = { name = frame.name, line = frame.line, path = frame.source and frame.source.path }
  result.buffer = { name = vim.api.nvim_buf_get_name(0), line = vim.api.nvim_win_get_cursor(0)[1] }

  local scopes = request(s, 'scopes', { frameId = frame.id }).scopes
  result.scopes = {}
  result.locals = {}
  for _, scope in ipairs(scopes) do
    table.insert(result.scopes, scope.name)
    if scope.variablesReference and scope.variablesReference > 0 and not scope.expensive then
      local vars = request(s, 'variables', { variablesReference = scope.variablesReference }).variables
      for _, v in ipairs(vars) do
        result.locals[v.name] = { value = v.value, type = v.type, scope = scope.name }
      end
    end
  end

  local done, eval_err, eval_resp = false, nil, nil
  s:evaluate(env.DAPGO_EVALUATE or 'scaled * 2', function(e, r)
    eval_err, eval_resp, done = e, r, true
  end)
  wait_for('evaluate response', 30000, function()
    return done
  end)
  result.evaluate = eval_resp and eval_resp.result or ('error: ' .. vim.inspect(eval_err))

  -- console commands (`dapgo metrics`), evaluated as the REPL does (context "repl")
  result.console = {}
  for _, command in ipairs(vim.json.decode(env.DAPGO_CONSOLE or '[]')) do
    local cdone, cerr, cresp = false, nil, nil
    s:evaluate(command, function(e, r)
      cerr, cresp, cdone = e, r, true
    end)
    wait_for('the answer to ' .. command, 30000, function()
      return cdone
    end)
    result.console[command] = cresp and cresp.result or ('error: ' .. vim.inspect(cerr))
  end

  dap.clear_breakpoints()
  if env.DAPGO_STOP_FILE then -- the attached program loops until this file exists
    local f = assert(io.open(env.DAPGO_STOP_FILE, 'w'))
    f:close()
  end
  -- let the cleared breakpoints reach dapgo before resuming
  vim.wait(300, function() return false end, 20)
  dap.continue()
  wait_for('the end of the session', 60000, function()
    return result.terminated == true and dap.session() == nil
  end)
  result.debuggee = debuggee
  assert(debuggee, 'the debuggee never said its pid')

  -- The debuggee must be gone; so must the dapgo process nvim-dap started (not a server
  -- the user started: that one serves on).
  wait_for('the debuggee to be gone', 10000, function()
    return not pid_alive(debuggee)
  end)
  if scenario ~= 'connect' then
    local ok = vim.wait(10000, function()
      return #processes_with(marker) == 0
    end, 50)
    result.adapter_left = processes_with(marker)
    if not ok then
      error('the dapgo adapter process is still running after the session ended: ' .. vim.inspect(result.adapter_left))
    end
  end
end

local ok, err = xpcall(run, debug.traceback)
if not ok then
  result.error = tostring(err)
  pcall(function()
    require('dap').terminate()
  end)
end
write_result()
