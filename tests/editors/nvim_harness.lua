-- Loads editors/nvim/lua/dapgo with a stand-in for nvim-dap's `dap` module (only nvim-dap is
-- stubbed, not dapgo), records what setup() registers, resolves the server adapter and
-- substitutes `${port}` the way nvim-dap's Session.connect does, and writes it all as JSON
-- to $DAPGO_HARNESS_OUT. Runs under `nvim --headless` or, without Neovim, plain LuaJIT/Lua.

local out_path = assert(os.getenv('DAPGO_HARNESS_OUT'), 'DAPGO_HARNESS_OUT is not set')
local repo = assert(os.getenv('DAPGO_REPO'), 'DAPGO_REPO is not set')
local dapgo_path = assert(os.getenv('DAPGO_PATH'), 'DAPGO_PATH is not set')

local function encode(v, seen)
  local t = type(v)
  if t == 'nil' then
    return 'null'
  elseif t == 'boolean' or t == 'number' then
    return tostring(v)
  elseif t == 'string' then
    return '"' .. v:gsub('[%c"\\]', function(c)
      return string.format('\\u%04x', c:byte())
    end) .. '"'
  elseif t == 'function' then
    return '"<function>"'
  elseif t == 'table' then
    local parts = {}
    if next(v) ~= nil and v[1] ~= nil then
      for _, x in ipairs(v) do
        table.insert(parts, encode(x))
      end
      return '[' .. table.concat(parts, ',') .. ']'
    end
    local keys = {}
    for k in pairs(v) do
      table.insert(keys, tostring(k))
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      table.insert(parts, encode(k) .. ':' .. encode(v[k]))
    end
    return '{' .. table.concat(parts, ',') .. '}'
  end
  return '"<' .. t .. '>"'
end

local function deepcopy(v)
  if type(v) ~= 'table' then
    return v
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = deepcopy(x)
  end
  return out
end

-- nvim-dap's get_free_port(): bind 127.0.0.1:0, read the port, close. Without Neovim's libuv
-- the test passes a free port in $DAPGO_FREE_PORT.
local function get_free_port()
  local uv = vim and vim.loop
  if uv then
    local tcp = uv.new_tcp()
    tcp:bind('127.0.0.1', 0)
    local port = tcp:getsockname().port
    tcp:shutdown()
    tcp:close()
    return port
  end
  return assert(tonumber(os.getenv('DAPGO_FREE_PORT')), 'DAPGO_FREE_PORT is not set')
end

-- What nvim-dap's Session.connect does with a server adapter whose port is "${port}".
local function substitute_port(adapter)
  adapter = deepcopy(adapter)
  if adapter.executable and adapter.port == '${port}' then
    local port = get_free_port()
    adapter.port = port
    if adapter.executable.args then
      local args = assert(adapter.executable.args)
      for idx, arg in pairs(args) do
        args[idx] = arg:gsub('${port}', tostring(port))
      end
    end
  end
  return adapter
end

local function resolve(adapter, config)
  if type(adapter) ~= 'function' then
    return adapter
  end
  local got
  adapter(function(a)
    got = a
  end, config)
  return got
end

local function run()
  local result = { runtime = vim and 'nvim' or (jit and jit.version or _VERSION) }
  -- Without Neovim, put the module on package.path (Neovim finds it on 'runtimepath').
  if not vim then
    package.path = repo .. '/editors/nvim/lua/?.lua;' .. repo .. '/editors/nvim/lua/?/init.lua;' .. package.path
  end
  local picked = 0
  local dap = {
    adapters = {},
    configurations = { go = { { type = 'go', name = 'Delve: keep me' }, { type = 'dapgo', name = 'old dapgo entry' } } },
  }
  package.loaded['dap'] = dap
  -- not nvim-dap's picker (`ps ah -U $USER` lists nothing where USER is unset)
  package.loaded['dap.utils'] = {
    pick_process = function()
      error('dapgo must pick processes from /proc, not with dap.utils.pick_process')
    end,
  }

  local dapgo = require('dapgo')
  result.module_file = debug.getinfo(dapgo.setup, 'S').source

  -- tcp: nvim-dap starts `dapgo --listen 127.0.0.1:${port}` itself
  dapgo.setup({ path = dapgo_path, transport = 'tcp', config_defaults = { hideSystemGoroutines = true } })
  dapgo.setup({ path = dapgo_path, transport = 'tcp', config_defaults = { hideSystemGoroutines = true } })
  result.adapter_names = {}
  for name in pairs(dap.adapters) do
    table.insert(result.adapter_names, name)
  end
  table.sort(result.adapter_names)
  result.configurations = deepcopy(dap.configurations.go)
  local by_name = {}
  for _, c in ipairs(dap.configurations.go) do
    by_name[c.name] = c
  end
  local launch_pkg = by_name['dapgo: Launch package']
  result.tcp_adapter = resolve(dap.adapters.dapgo, launch_pkg)
  result.tcp_adapter_substituted = substitute_port(result.tcp_adapter)
  result.server_adapter = dap.adapters['dapgo-tcp']
  result.stdio_adapter_registered = dap.adapters['dapgo-stdio']
  result.connect_adapter = resolve(dap.adapters.dapgo, by_name['dapgo: Connect to server'])
  local attach = by_name['dapgo: Attach to process']
  if vim then
    -- the module's own picker: vim.ui.select over /proc (stand-in for the user's choice)
    vim.ui.select = function(items, opts, on_choice)
      picked = picked + 1
      result.pick_items = #items
      result.pick_label = opts.format_item(items[#items])
      result.pick_expected = items[#items].pid
      on_choice(items[#items])
    end
    result.attach_pid = attach.processId()
  end
  result.picked = picked

  -- stdio: nvim-dap starts dapgo and speaks DAP on its stdin/stdout
  dapgo.setup({ path = dapgo_path, args = { '--log-level', 'WARNING' } })
  result.stdio_adapter = resolve(dap.adapters.dapgo, launch_pkg)

  result.bad_transport = not pcall(dapgo.setup, { transport = 'pipe' })
  return result
end

local ok, res = xpcall(run, debug.traceback)
local f = assert(io.open(out_path, 'w'))
f:write(encode(ok and res or { error = tostring(res) }))
f:close()
