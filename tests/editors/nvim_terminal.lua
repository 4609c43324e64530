-- Real nvim-dap (0.7.0 on Debian's Neovim 0.7) runs dapgo with `console =
-- 'integratedTerminal'`: nvim-dap answers runInTerminal with a terminal buffer of its own;
-- what the user types there reaches the program, which stops at a breakpoint meanwhile.
-- Writes what happened as JSON to $DAPGO_HARNESS_OUT, then quits.

local out_path = assert(os.getenv('DAPGO_HARNESS_OUT'))
local result = { steps = {} }
local function note(s) table.insert(result.steps, s) end
local function finish()
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd('qa!')
end

local ok, err = pcall(function()
  local dap = require('dap')
  dap.adapters.dapgo = { type = 'executable', command = assert(os.getenv('DAPGO_PATH')) }
  dap.listeners.after.event_exited['dapgo-test'] = function(_, body)
    result.exit_code = body.exitCode
  end
  dap.listeners.after.event_stopped['dapgo-test'] = function(_, body)
    result.stop_reason = body.reason
  end
  vim.cmd('edit ' .. os.getenv('BP_FILE'))
  vim.api.nvim_win_set_cursor(0, { tonumber(os.getenv('BP_LINE')), 0 })
  dap.toggle_breakpoint()
  dap.run({ type = 'dapgo', request = 'launch', name = 'dapgo-terminal', mode = 'debug',
            program = os.getenv('PROGRAM'), args = { 'stdin', '3' },
            console = 'integratedTerminal' })

  local job
  assert(vim.wait(120000, function()
    for _, c in ipairs(vim.api.nvim_list_chans()) do
      if c.pty and c.argv and c.argv[1] == '/bin/sh' then job = c.id return true end
    end
    return false
  end, 50), 'no terminal job')
  note('terminal started')
  local function screen()
    for _, b in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_get_name(b):find('dap%-terminal') then
        return table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), '\n')
      end
    end
    return ''
  end
  assert(vim.wait(60000, function() return screen():find('type lines') ~= nil end, 50),
         'the program did not start: ' .. screen())
  vim.api.nvim_chan_send(job, 'hello\n')
  assert(vim.wait(30000, function()
    local s = dap.session()
    return s ~= nil and s.stopped_thread_id ~= nil
  end, 50), 'no stop')
  note('stopped')
  local s = dap.session()
  local frames
  s:request('stackTrace', { threadId = s.stopped_thread_id }, function(e, resp)
    frames = e and { error = tostring(e) } or resp.stackFrames
  end)
  assert(vim.wait(10000, function() return frames ~= nil end, 20))
  result.top = frames[1] and frames[1].name
  local value
  s:request('evaluate', { expression = 'text', frameId = frames[1].id, context = 'repl' },
    function(e, resp) value = e and tostring(e) or resp.result end)
  assert(vim.wait(10000, function() return value ~= nil end, 20))
  result.text = value
  dap.continue()
  assert(vim.wait(30000, function() return screen():find('got HELLO 6') ~= nil end, 50),
         'no output after continue: ' .. screen())
  note('continued')
  vim.api.nvim_chan_send(job, 'quit\n')
  assert(vim.wait(30000, function() return result.exit_code ~= nil end, 50), 'no exit')
  result.screen = screen()
end)
if not ok then result.error = tostring(err) end
finish()
