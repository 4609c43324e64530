-- dapgo for nvim-dap: debug Go programs on Linux x86-64 with the dapgo DAP server.
--
--   require('dapgo').setup({
--     path = '/path/to/dapgo/.venv/bin/dapgo',  -- default: 'dapgo' on PATH
--     transport = 'stdio',                      -- or 'tcp': nvim-dap starts `dapgo --listen`
--   })
--
-- setup() registers:
--   dap.adapters.dapgo          chooses per configuration: a configuration with `port`
--                               (and `host`) connects to a running `dapgo --listen`;
--                               otherwise the adapter of `transport`;
--   dap.adapters['dapgo-stdio'] the executable adapter (DAP over dapgo's stdin/stdout);
--   dap.adapters['dapgo-tcp']   the server adapter: nvim-dap picks a free port, starts
--                               `dapgo --listen 127.0.0.1:${port}` and connects to it;
--   dap.configurations.go       launch file, launch package, launch test package, attach
--                               (process picker), connect to a running server; appended to
--                               what is there, replacing only earlier dapgo entries.

local M = {}

M.defaults = {
  -- the dapgo executable: a name looked up on PATH, or a path
  path = 'dapgo',
  -- extra arguments for dapgo, e.g. { '--log-file', '/tmp/dapgo.log' }
  args = {},
  -- 'stdio' (executable adapter) or 'tcp' (server adapter started on a free port)
  transport = 'stdio',
  -- the running server that the "Connect to server" configuration uses
  server = { host = '127.0.0.1', port = 4711 },
  -- add dapgo's entries to dap.configurations.go (false: leave the configurations alone)
  configurations = true,
  -- seconds nvim-dap waits for the answer to launch/attach before warning "Debug adapter
  -- didn't respond" (its default, 4 s, is shorter than a cold `go build` of the program)
  initialize_timeout_sec = 120,
  -- attributes merged into every dapgo configuration that setup() adds, e.g.
  -- { hideSystemGoroutines = true, showPprofLabels = { 'request' }, maxStringLen = 1024 }
  config_defaults = {},
}

local function is_list(t)
  return next(t) == nil or t[1] ~= nil
end

local function merge(base, extra)
  local out = {}
  for k, v in pairs(base or {}) do
    out[k] = v
  end
  for k, v in pairs(extra or {}) do
    if type(v) == 'table' and type(out[k]) == 'table' and not is_list(v) then
      out[k] = merge(out[k], v)
    else
      out[k] = v
    end
  end
  return out
end

local function concat(a, b)
  local out = {}
  for _, v in ipairs(a or {}) do
    table.insert(out, v)
  end
  for _, v in ipairs(b or {}) do
    table.insert(out, v)
  end
  return out
end

--- The executable (stdio) adapter: nvim-dap starts dapgo and speaks DAP on its stdio.
function M.executable_adapter(opts)
  opts = merge(M.defaults, opts)
  return {
    type = 'executable',
    command = opts.path,
    args = concat({}, opts.args),
    options = { detached = false, initialize_timeout_sec = opts.initialize_timeout_sec },
  }
end

--- The server adapter in nvim-dap's `${port}` form: nvim-dap picks a free port, substitutes
--- it for `${port}` in `port` and in `executable.args`, starts the executable and connects.
function M.server_adapter(opts)
  opts = merge(M.defaults, opts)
  return {
    type = 'server',
    host = '127.0.0.1',
    port = '${port}',
    executable = {
      command = opts.path,
      args = concat({ '--listen', '127.0.0.1:${port}' }, opts.args),
      detached = false,
    },
    options = { max_retries = 50, initialize_timeout_sec = opts.initialize_timeout_sec },
  }
end

--- A server adapter for a dapgo already serving (`dapgo --listen HOST:PORT`).
function M.remote_adapter(host, port, opts)
  opts = merge(M.defaults, opts)
  return {
    type = 'server',
    host = host or '127.0.0.1',
    port = tonumber(port),
    options = { initialize_timeout_sec = opts.initialize_timeout_sec },
  }
end

--- The adapter for one configuration: `port` in it means connect to a running server.
function M.adapter_for(config, opts)
  opts = merge(M.defaults, opts)
  if config and config.port ~= nil and config.port ~= '' then
    return M.remote_adapter(config.host, config.port, opts)
  end
  if opts.transport == 'tcp' then
    return M.server_adapter(opts)
  end
  if opts.transport ~= 'stdio' then
    error(("dapgo: transport must be 'stdio' or 'tcp', not %q"):format(tostring(opts.transport)))
  end
  return M.executable_adapter(opts)
end

--- This machine's processes from /proc, newest (highest pid) first: { pid, name } where
--- name is the command line. Kernel threads and Neovim itself are left out.
function M.processes(proc_root)
  proc_root = proc_root or '/proc'
  local self_pid = vim.fn.getpid()
  local procs = {}
  for _, entry in ipairs(vim.fn.readdir(proc_root)) do
    local pid = tonumber(entry)
    if pid and entry:match('^%d+$') and pid ~= self_pid then
      local f = io.open(proc_root .. '/' .. entry .. '/cmdline', 'rb')
      if f then
        local cmdline = (f:read('*a') or ''):gsub('%z+$', ''):gsub('%z', ' ')
        f:close()
        if cmdline ~= '' then
          table.insert(procs, { pid = pid, name = cmdline })
        end
      end
    end
  end
  table.sort(procs, function(a, b)
    return a.pid > b.pid
  end)
  return procs
end

--- The attach configuration's process picker: vim.ui.select over M.processes().
--- nvim-dap's own dap.utils.pick_process runs `ps ah -U $USER`, which lists nothing where
--- USER is unset (cron, CI, some containers); /proc needs no such variable.
--- Called by nvim-dap inside its coroutine, it returns a suspended coroutine that resumes
--- nvim-dap's with the chosen pid (nil when cancelled), as nvim-dap 0.7.0 and 0.10.0
--- (tested) expect.
function M.pick_process()
  local procs = M.processes()
  local select_opts = {
    prompt = 'Attach to process (dapgo): ',
    format_item = function(p)
      return string.format('%d  %s', p.pid, p.name)
    end,
  }
  if coroutine.running() then
    return coroutine.create(function(dap_co)
      vim.ui.select(procs, select_opts, function(choice)
        coroutine.resume(dap_co, choice and choice.pid or nil)
      end)
    end)
  end
  local chosen
  vim.ui.select(procs, select_opts, function(choice)
    chosen = choice and choice.pid or nil
  end)
  return chosen
end

local function pick_process()
  return M.pick_process()
end

--- dapgo's entries for dap.configurations.go.
function M.configurations(opts)
  opts = merge(M.defaults, opts)
  local d = opts.config_defaults or {}
  local function cfg(t)
    return merge(merge({ type = 'dapgo' }, d), t)
  end
  return {
    cfg({ request = 'launch', name = 'dapgo: Launch file', mode = 'debug', program = '${file}' }),
    cfg({ request = 'launch', name = 'dapgo: Launch package', mode = 'debug', program = '${fileDirname}' }),
    cfg({ request = 'launch', name = 'dapgo: Launch test package', mode = 'test', program = '${fileDirname}' }),
    cfg({ request = 'attach', name = 'dapgo: Attach to process', mode = 'local', processId = pick_process }),
    cfg({
      request = 'launch',
      name = 'dapgo: Connect to server',
      mode = 'debug',
      program = '${fileDirname}',
      host = opts.server.host,
      port = opts.server.port,
    }),
  }
end

--- Register the adapters and configurations with nvim-dap.
function M.setup(opts)
  opts = merge(M.defaults, opts)
  if opts.transport ~= 'stdio' and opts.transport ~= 'tcp' then
    error(("dapgo: transport must be 'stdio' or 'tcp', not %q"):format(tostring(opts.transport)))
  end
  local ok, dap = pcall(require, 'dap')
  if not ok then
    error('dapgo: nvim-dap is not installed (require("dap") failed)')
  end
  dap.adapters['dapgo-stdio'] = M.executable_adapter(opts)
  dap.adapters['dapgo-tcp'] = M.server_adapter(opts)
  dap.adapters.dapgo = function(callback, config)
    callback(M.adapter_for(config, opts))
  end
  if opts.configurations then
    local kept = {}
    for _, c in ipairs(dap.configurations.go or {}) do
      if c.type ~= 'dapgo' then
        table.insert(kept, c)
      end
    end
    dap.configurations.go = concat(kept, M.configurations(opts))
  end
  M.options = opts
  return M
end

return M
