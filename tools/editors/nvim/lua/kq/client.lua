-- kq/client.lua: the kqd wire protocol, version 1 (src/server/PROTOCOL.md), over libuv.
--
-- Finds the index and its socket by the rules kq follows, opens a connection, checks the
-- server's protocol version with `ping`, and matches answers to requests by `id` (answers
-- to pipelined requests may arrive in any order, P3). Everything here runs on Neovim's
-- event loop; libuv callbacks only hand their bytes to vim.schedule, so the protocol
-- itself is handled where the editor API is usable. Failures are values ({code, message})
-- passed to callbacks, never Lua errors.
local uv = vim.uv or vim.loop
local xxh3 = require('kq.xxh3')

local M = {}

M.PROTOCOL = 1

-- Linux's sun_path holds 108 bytes with the terminating NUL.
local SOCKADDR_MAX = 107

local function stat(path)
  return uv.fs_stat(path)
end

local function parent(dir)
  if dir == '/' then
    return nil
  end
  local p = dir:match('^(.*)/[^/]*$')
  if p == nil then
    return nil
  end
  return p == '' and '/' or p
end

local function join(dir, name)
  return dir == '/' and '/' .. name or dir .. '/' .. name
end

-- find_index(explicit, starts): the index directory as an absolute, resolved path.
-- `explicit` (the plugin's index option) wins, then $KQ_INDEX, then the nearest .kq/
-- holding a MANIFEST walking up from each directory of `starts` in turn. Returns the path,
-- or nil and a message.
function M.find_index(explicit, starts)
  local dir = explicit
  if dir == nil or dir == '' then
    dir = os.getenv('KQ_INDEX')
  end
  if dir ~= nil and dir ~= '' then
    dir = vim.fn.expand(dir)
    local real = uv.fs_realpath(dir)
    local st = real and stat(real)
    if not st or st.type ~= 'directory' then
      return nil, ("index '%s' not found"):format(dir)
    end
    return real
  end
  for _, start in ipairs(starts or { uv.cwd() }) do
    local d = start and uv.fs_realpath(start)
    while d do
      local cand = join(d, '.kq')
      if stat(join(cand, 'MANIFEST')) then
        return cand
      end
      d = parent(d)
    end
  end
  return nil, "no index found (no .kq/ here or above; build one with 'kq-index PATH', "
    .. 'or set the index option or $KQ_INDEX)'
end

local function getuid()
  if uv.getuid then
    return uv.getuid()
  end
  return uv.os_get_passwd().uid
end

-- socket_path(index): where kqd listens for the index directory `index` (absolute):
-- kqd.sock inside it, or, when that does not fit a socket address, a name made of the
-- XXH3-64 of the directory's path under $XDG_RUNTIME_DIR/kq (or /tmp/kq-<uid>).
function M.socket_path(index)
  local p = join(index, 'kqd.sock')
  if #p <= SOCKADDR_MAX then
    return p
  end
  local h = xxh3.hex(index)
  local rt = os.getenv('XDG_RUNTIME_DIR')
  if rt and rt ~= '' then
    return rt .. '/kq/' .. h .. '.sock'
  end
  return ('/tmp/kq-%d/%s.sock'):format(getuid(), h)
end

-- A connection: request() sends one request and calls back with (err, result) once its
-- answer arrives; err is the protocol's error object {code, message, offset}.
local Conn = {}
Conn.__index = Conn

local function fail_all(c, err)
  local pending = c.pending
  c.pending = {}
  for _, p in pairs(pending) do
    if p.timer then
      p.timer:stop()
      p.timer:close()
    end
    p.cb(err)
  end
end

function Conn:close()
  if self.closed then
    return
  end
  self.closed = true
  if not self.pipe:is_closing() then
    self.pipe:read_stop()
    self.pipe:close()
  end
  fail_all(self, { code = 'closed', message = 'the connection was closed' })
end

local function on_line(c, line)
  if line:match('^%s*$') then
    return
  end
  local ok, msg = pcall(vim.json.decode, line)
  if not ok or type(msg) ~= 'table' then
    fail_all(c, { code = 'bad_answer', message = 'kqd sent a line that is not a JSON object' })
    c:close()
    return
  end
  local id = msg.id
  if id == nil or id == vim.NIL then
    -- the server's last word before closing (timeout, too_large, shutting_down)
    if type(msg.error) == 'table' then
      c.last_error = msg.error
    end
    return
  end
  local p = c.pending[id]
  if not p then
    return
  end
  c.pending[id] = nil
  if p.timer then
    p.timer:stop()
    p.timer:close()
  end
  if type(msg.error) == 'table' then
    local e = msg.error
    if type(e.message) ~= 'string' then
      e.message = tostring(e.code or 'unknown error')
    end
    p.cb(e)
  elseif type(msg.result) == 'table' then
    p.cb(nil, msg.result)
  else
    p.cb({ code = 'bad_answer', message = 'kqd sent an answer with neither result nor error' })
  end
end

local function on_data(c, err, chunk)
  if c.closed then
    return
  end
  if err or chunk == nil then
    local e = c.last_error
      or { code = 'closed', message = 'kqd closed the connection' .. (err and (': ' .. err) or '') }
    fail_all(c, e)
    c:close()
    return
  end
  c.buf = c.buf .. chunk
  while true do
    local nl = c.buf:find('\n', 1, true)
    if not nl then
      break
    end
    local line = c.buf:sub(1, nl - 1):gsub('\r$', '')
    c.buf = c.buf:sub(nl + 1)
    on_line(c, line)
    if c.closed then
      return
    end
  end
end

-- request(op, members, cb): sends {"id":…,"op":op,"protocol":1,…members} and calls
-- cb(err, result) on the editor's main loop, at most once.
function Conn:request(op, members, cb)
  if self.closed then
    cb({ code = 'closed', message = 'the connection is closed' })
    return
  end
  local id = self.next_id
  self.next_id = id + 1
  local req = { id = id, op = op, protocol = M.PROTOCOL }
  for k, v in pairs(members or {}) do
    req[k] = v
  end
  local p = { cb = cb }
  self.pending[id] = p
  if self.timeout_ms and self.timeout_ms > 0 then
    p.timer = uv.new_timer()
    p.timer:start(self.timeout_ms, 0, function()
      vim.schedule(function()
        if self.pending[id] == p then
          self.pending[id] = nil
          p.timer:close()
          p.timer = nil
          local secs = self.timeout_ms / 1000
          cb({ code = 'timeout', message = ('no answer from kqd within %g s'):format(secs) })
        end
      end)
    end)
  end
  self.pipe:write(vim.json.encode(req) .. '\n', function(werr)
    if werr then
      vim.schedule(function()
        on_data(self, werr, nil)
      end)
    end
  end)
end

-- connect(path, opts, cb): opens a connection to the socket `path` and calls cb(nil, conn)
-- or cb(err) where err.code is 'not_running' when nothing listens there.
function M.connect(path, opts, cb)
  -- as kq does, never trust a socket someone else made (it could answer anything)
  local st = uv.fs_stat(path)
  if st and st.uid ~= getuid() then
    vim.schedule(function()
      local msg = ('the socket %s belongs to another user; not using it'):format(path)
      cb({ code = 'untrusted', message = msg })
    end)
    return
  end
  local pipe = uv.new_pipe(false)
  pipe:connect(path, function(err)
    vim.schedule(function()
      if err then
        pipe:close()
        local absent = err:match('^ENOENT') or err:match('^ECONNREFUSED')
        local code = absent and 'not_running' or 'connect'
        cb({ code = code, message = ('cannot connect to %s: %s'):format(path, err) })
        return
      end
      local c = setmetatable({ pipe = pipe, pending = {}, next_id = 1, buf = '',
                               timeout_ms = opts and opts.timeout_ms }, Conn)
      pipe:read_start(function(rerr, chunk)
        vim.schedule(function()
          on_data(c, rerr, chunk)
        end)
      end)
      cb(nil, c)
    end)
  end)
end

-- open(path, opts, cb): connect, then ping; cb(nil, conn, pong) only when the server
-- speaks protocol 1. A server speaking another version gives err.code 'version'.
function M.open(path, opts, cb)
  M.connect(path, opts, function(err, c)
    if err then
      cb(err)
      return
    end
    c:request('ping', nil, function(perr, pong)
      local version
      if perr and perr.code == 'unsupported_version' then
        version = perr.message
      elseif perr then
        c:close()
        cb(perr)
        return
      elseif pong.protocol ~= M.PROTOCOL then
        version = ('it speaks protocol %s'):format(tostring(pong.protocol))
      end
      if version then
        c:close()
        cb({
          code = 'version',
          message = ('kqd on %s does not speak protocol %d, the one this plugin speaks (%s); '
            .. 'use a kq plugin and a kqd of the same release'):format(path, M.PROTOCOL, version),
        })
        return
      end
      cb(nil, c, pong)
    end)
  end)
end

return M
