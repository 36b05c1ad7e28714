-- kq: search the kq index of your documents from Neovim, through the kqd daemon.
--
--   :Kq reciprocal defense procurement    ranked hits into the quickfix list, first one opened
--   :Kq! "supply chain" -china            the same without jumping
--   :KqPlain (any text, no operators)     free text: every word a ranked-OR term
--   :KqStatus                             the daemon's index, documents and latency
--
-- The plugin speaks only the kqd protocol (src/server/PROTOCOL.md, version 1) on the
-- socket of the index, found as `kq` finds it. The first page of hits is shown as soon as
-- its answer arrives and the following pages, requested together, are appended in rank
-- order as they come. See :help kq.
local client = require('kq.client')
local uv = vim.uv or vim.loop

local M = {}

local defaults = {
  index = nil, -- the index directory; else $KQ_INDEX, else the nearest .kq/ upwards
  socket = nil, -- the daemon's socket; else the rule of PROTOCOL.md for the index
  limit = 100, -- hits wanted in all
  page = 25, -- hits per request; the first page is shown before the others arrive
  plain = false, -- queries are free text (no operators)
  open = true, -- open the quickfix window
  jump = true, -- jump to the first hit (:Kq! never does)
  start_daemon = 'ask', -- when no kqd answers: 'ask', 'always' or 'never'
  kqd = 'kqd', -- the daemon program (a string or a list: program and arguments)
  timeout_ms = 10000, -- per answer
}

M.config = {}

-- setup(opts): sets options (the keys of `defaults`). g:kq_<key> sets them too; setup()
-- wins over g: variables.
function M.setup(opts)
  M.config = vim.tbl_extend('force', M.config, opts or {})
end

local function option(opts, key)
  if opts and opts[key] ~= nil then
    return opts[key]
  end
  if M.config[key] ~= nil then
    return M.config[key]
  end
  local g = vim.g['kq_' .. key]
  if g ~= nil then
    return g
  end
  return defaults[key]
end

local keys = { 'index', 'socket', 'limit', 'page', 'plain', 'open', 'jump', 'start_daemon', 'kqd',
               'timeout_ms' }

-- the options that are true or false: a Vimscript number (`let g:kq_jump = 0`) means false
-- when 0 and true otherwise, as in Vimscript (in Lua 0 is true)
local booleans = { plain = true, open = true, jump = true }

local function resolve(opts)
  local r = {}
  for _, k in ipairs(keys) do
    r[k] = option(opts, k)
    if booleans[k] and type(r[k]) == 'number' then
      r[k] = r[k] ~= 0
    end
  end
  r.on_done = opts and opts.on_done
  return r
end

local function notify(msg, level)
  vim.notify('kq: ' .. msg, level or vim.log.levels.INFO)
end

local function shellquote(s)
  if s:match('^[%w%./_%-]+$') then
    return s
  end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The index and its socket for this request.
local function target(o)
  local starts = { uv.cwd() }
  local bufdir = vim.fn.expand('%:p:h')
  if bufdir ~= '' and vim.bo.buftype == '' then
    starts[#starts + 1] = bufdir
  end
  local index, err = client.find_index(o.index, starts)
  if not index then
    if o.socket then
      return { socket = vim.fn.expand(o.socket) }
    end
    return nil, err
  end
  local socket = o.socket and vim.fn.expand(o.socket) or client.socket_path(index)
  return { index = index, socket = socket }
end

local function kqd_argv(o, t)
  local argv = type(o.kqd) == 'table' and vim.deepcopy(o.kqd) or { o.kqd }
  if t.index then
    vim.list_extend(argv, { '--index', t.index })
  end
  if o.socket then
    vim.list_extend(argv, { '--socket', t.socket })
  end
  return argv
end

local function how_to_start(o, t)
  local words = {}
  for _, a in ipairs(kqd_argv(o, t)) do
    words[#words + 1] = shellquote(a)
  end
  return table.concat(words, ' ')
end

-- The daemon's log: kqd keeps the stderr it was started with.
local function log_path()
  return vim.fn.stdpath('cache') .. '/kqd.log'
end

-- Starts kqd for `t` and calls back cb(err) once its socket answers (or it failed). kqd
-- detaches by itself once it serves: the process we start exits 0 then, or 2 with the
-- reason in the log.
local function start_daemon(o, t, cb)
  local argv = kqd_argv(o, t)
  if vim.fn.executable(argv[1]) ~= 1 then
    cb(("'%s' is not an executable program; set the kqd option to the daemon's path"):format(
      argv[1]))
    return
  end
  local log = log_path()
  vim.fn.mkdir(vim.fn.fnamemodify(log, ':h'), 'p')
  local fd = uv.fs_open(log, 'w', 420)
  if not fd then
    cb('cannot write ' .. log)
    return
  end
  local exited, exit_code = false, nil
  local handle
  handle = uv.spawn(argv[1], {
    args = vim.list_slice(argv, 2),
    stdio = { nil, nil, fd },
    detached = true,
  }, function(code)
    exited, exit_code = true, code
    handle:close()
  end)
  uv.fs_close(fd)
  if not handle then
    cb(('cannot start %s'):format(argv[1]))
    return
  end
  handle:unref()
  local function why()
    local f = io.open(log, 'r')
    local text = f and f:read('*a') or ''
    if f then
      f:close()
    end
    text = text:gsub('%s+$', '')
    if text == '' then
      if exited then
        return 'it exited with status ' .. tostring(exit_code)
      end
      return 'its socket did not appear within 10 s'
    end
    return text
  end
  local tries = 0
  local function poll()
    tries = tries + 1
    if exited and exit_code ~= 0 then
      cb(('%s failed: %s'):format(table.concat(argv, ' '), why()))
      return
    end
    client.connect(t.socket, { timeout_ms = o.timeout_ms }, function(err, c)
      if not err then
        c:close()
        cb(nil)
      elseif tries >= 200 then
        cb(('%s failed: %s'):format(table.concat(argv, ' '), why()))
      else
        vim.defer_fn(poll, 50)
      end
    end)
  end
  vim.defer_fn(poll, 20)
end

local function finish(o, err, info)
  if o.on_done then
    o.on_done(err, info)
  end
end

-- (nothing more is said of a search that has ended: superseded by a newer one)
local function report(o, err, info)
  if o.ended then
    return
  end
  notify(err.message, vim.log.levels.ERROR)
  finish(o, err, info)
end

-- with_server(o, fn): calls fn(conn, target) with a connection to a daemon speaking
-- protocol 1, or reports why there is none (offering to start kqd when none runs).
local function with_server(o, fn, started)
  local t, terr = target(o)
  if not t then
    report(o, { code = 'no_index', message = terr })
    return
  end
  client.open(t.socket, { timeout_ms = o.timeout_ms }, function(err, c)
    if not err then
      fn(c, t)
      return
    end
    if err.code ~= 'not_running' or started then
      report(o, err)
      return
    end
    local what = t.index and ('for ' .. t.index) or ('on ' .. t.socket)
    local mode = o.start_daemon
    if mode == 'ask' then
      if not t.index then
        mode = 'never'
      else
        local ask = ('kq: kqd is not running %s.\nStart it now?'):format(what)
        local choice = vim.fn.confirm(ask, '&Yes\n&No', 1)
        mode = choice == 1 and 'always' or 'never'
      end
    end
    if mode ~= 'always' or not t.index then
      local where = t.index and ('for %s (nothing answers on %s)'):format(t.index, t.socket) or what
      report(o, {
        code = 'not_running',
        message = ('kqd is not running %s; start it with: %s'):format(where, how_to_start(o, t)),
      })
      return
    end
    notify(('starting kqd %s (log: %s)'):format(what, log_path()))
    start_daemon(o, t, function(serr)
      if serr then
        report(o, { code = 'not_running', message = serr })
        return
      end
      with_server(o, fn, true)
    end)
  end)
end

-- whether a hit is a whole file's (its id is the file's path as indexed): kq-index reads
-- every *.jsonl file as JSON lines, whose documents' ids are their "_id"
local function file_hit(h)
  return type(h.path) ~= 'string' or h.path:sub(-6) ~= '.jsonl'
end

-- The bytes of the base64 text `s` (RFC 4648, padded; Neovim 0.7 has no vim.base64), or
-- nil when it is not base64.
local b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function base64_decode(s)
  if type(s) ~= 'string' or #s % 4 ~= 0 or not s:match('^[%w+/]*=?=?$') then
    return nil
  end
  local out = {}
  for i = 1, #s, 4 do
    local n, pad = 0, 0
    for j = i, i + 3 do
      local ch = s:sub(j, j)
      local v = b64:find(ch, 1, true)
      if ch == '=' then
        pad, v = pad + 1, 1
      end
      n = n * 64 + (v - 1)
    end
    local bytes = string.char(math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
    out[#out + 1] = bytes:sub(1, 3 - pad)
  end
  return table.concat(out)
end
M._base64_decode = base64_decode

-- the file a hit opens: its path's bytes (path_bytes) when the path is not UTF-8, for
-- `path` then has U+FFFD in place of the bytes that are not
local function hit_file(h)
  return base64_decode(h.path_bytes) or h.path
end

-- the first matched word of a hit (its snippet's first highlight), or nil
local function first_word(h)
  if type(h.snippet) ~= 'string' or type(h.highlights) ~= 'table' then
    return nil
  end
  local hl = h.highlights[1]
  if type(hl) ~= 'table' or type(hl[1]) ~= 'number' or type(hl[2]) ~= 'number'
      or hl[1] < 0 or hl[2] <= hl[1] or hl[2] > #h.snippet then
    return nil
  end
  return h.snippet:sub(hl[1] + 1, hl[2])
end

-- JSON-lines documents have no file of their own: a hit opens the buffer kq://<id>,
-- whose text comes from the daemon (`doc`, with the hit's path: ids are unique only
-- within a file) when it is read. The document of another file with the same id gets
-- the buffer `kq://<id> (<file>)`.
local doc_sources = {} -- buffer name -> { socket, id, path, timeout_ms }
local doc_names = {} -- path .. '\0' .. id -> buffer name

local function doc_name(h, t)
  local key = h.path .. '\0' .. h.id
  if doc_names[key] then
    return doc_names[key]
  end
  local name = 'kq://' .. h.id
  if doc_sources[name] then
    local root = t.index and t.index:gsub('[^/]*$', '') or ''
    local file = (root ~= '' and h.path:sub(1, #root) == root) and h.path:sub(#root + 1) or h.path
    name = ('kq://%s (%s)'):format(h.id, file)
    local n = 1
    while doc_sources[name] do
      n = n + 1
      name = ('kq://%s (%s) %d'):format(h.id, file, n)
    end
  end
  doc_names[key] = name
  return name
end

local function doc_buffer(h, t, o)
  local name = doc_name(h, t)
  doc_sources[name] = { socket = t.socket, id = h.id, path = h.path, path_bytes = h.path_bytes,
                        timeout_ms = o.timeout_ms }
  -- a new search's hit reads it again (the index may have changed, the last read may have
  -- failed): unloaded now when it is not on screen, else when it is entered next
  -- (bufnr() would take the name as a pattern)
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_get_name(buf) == name and vim.api.nvim_buf_is_loaded(buf) then
      if vim.fn.bufwinid(buf) == -1 then
        vim.cmd('silent! bunload! ' .. buf)
      else
        doc_sources[name].stale = true
      end
    end
  end
  return name
end

-- enter_doc(buf, name): reads the buffer `name` again when a search found it since it was
-- read.
function M.enter_doc(buf, name)
  local src = doc_sources[name]
  if src and src.stale and vim.api.nvim_buf_is_loaded(buf) then
    M.read_doc(buf, name)
  end
end

-- read_doc(buf, name): fills the buffer `name` (kq://<id>) with the document's text.
function M.read_doc(buf, name)
  local src = doc_sources[name]
  if not src then
    notify(('%s: no search of this session found it; run the search again'):format(name),
      vim.log.levels.ERROR)
    return
  end
  src.stale = nil
  local done, text, failure = false, nil, nil
  client.open(src.socket, { timeout_ms = src.timeout_ms }, function(err, c)
    if err then
      failure, done = err.message, true
      return
    end
    -- the file's path, in its bytes when it is not UTF-8
    local req = src.path_bytes and { doc = src.id, path_bytes = src.path_bytes }
      or { doc = src.id, path = src.path }
    c:request('doc', req, function(derr, r)
      c:close()
      if derr then
        failure = derr.message
      elseif type(r.text) ~= 'string' then
        failure = 'kqd sent a document without text'
      else
        text = r.text
      end
      done = true
    end)
  end)
  if not vim.wait(src.timeout_ms or 10000, function()
    return done
  end, 5) then
    failure = 'no answer from kqd'
  end
  if failure then
    notify(failure, vim.log.levels.ERROR)
    return
  end
  vim.bo[buf].modifiable = true
  -- as a file read does, without moving the quickfix entries' lines (lockmarks)
  M._doc_lines = { buf = buf, lines = vim.split(text:gsub('\r\n', '\n'), '\n', { plain = true }) }
  vim.cmd('lockmarks lua require("kq")._set_doc_lines()')
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].modified = false
  vim.bo[buf].modifiable = false
  vim.b[buf].kq_id = src.id
  vim.b[buf].kq_path = src.path
end

function M._set_doc_lines()
  local d = M._doc_lines
  M._doc_lines = nil
  vim.api.nvim_buf_set_lines(d.buf, 0, -1, false, d.lines)
end

local function qf_items(hits, t, o)
  local items = {}
  for _, h in ipairs(hits) do
    local text = type(h.snippet) == 'string' and h.snippet or ''
    text = text:gsub('[%c]', ' ')
    if text == '' and type(h.title) == 'string' then
      text = h.title
    end
    local item = { lnum = tonumber(h.line) or 0, col = tonumber(h.col) or 0, text = text }
    if not file_hit(h) then
      -- a JSON-lines document: its line is the .jsonl file's, not one of the document's
      -- text; the cursor goes to the first matched word, searched from the start of the
      -- text regardless of case (the start of the text when it is not there)
      item.filename = doc_buffer(h, t, o)
      local word = first_word(h)
      item.lnum, item.col = 1, 1
      if word then
        item.lnum, item.col = 0, 0
        item.pattern = '\\c\\V' .. vim.fn.escape(word, '\\/')
      end
    else
      item.filename = hit_file(h)
    end
    items[#items + 1] = item
  end
  return items
end

local current = 0 -- the search whose answers still count (a new :Kq supersedes the last)
local stop_running -- ends the search still running as superseded

-- search(query, opts): runs `query` and fills the quickfix list. opts: any key of the
-- defaults, plus on_done(err, info) called once at the end (info: total, shown, pages);
-- a search superseded by a newer one ends at once with err.code 'superseded'.
function M.search(query, opts)
  local o = resolve(opts)
  if type(query) ~= 'string' or query:match('^%s*$') then
    report(o, { code = 'bad_request', message = 'an empty query' })
    return
  end
  current = current + 1
  local gen = current
  local limit = math.max(1, math.floor(o.limit))
  local page = math.max(1, math.min(math.floor(o.page), limit))
  local title = 'kq ' .. query
  local conn
  -- the end of the search, once: its connection closes, then on_done runs
  local on_done = o.on_done
  o.on_done = function(err, info)
    if o.ended then
      return
    end
    o.ended = true
    if stop_running == o.stop then
      stop_running = nil
    end
    if conn then
      conn:close()
    end
    if on_done then
      on_done(err, info)
    end
  end
  o.stop = function()
    finish(o, { code = 'superseded', message = 'a newer search replaced this one' },
      { total = 0, shown = 0, pages = 0 })
  end
  if stop_running then
    stop_running()
  end
  stop_running = o.stop
  with_server(o, function(c, t)
    conn = c
    if gen ~= current or o.ended then
      c:close()
      o.stop()
      return
    end
    local qf_id
    local shown, total, npages = 0, 0, 0
    local answers, next_page, last_page = {}, 2, 1
    local failed = false

    local function done()
      c:close()
      if shown == 0 then
        notify(("no match for '%s'"):format(query), vim.log.levels.WARN)
      else
        notify(('%d of %d hits for %s'):format(shown, total, query))
      end
      finish(o, nil, { total = total, shown = shown, pages = npages, qf_id = qf_id })
    end

    local function append(result)
      npages = npages + 1
      local items = qf_items(result.hits or {}, t, o)
      shown = shown + #items
      vim.fn.setqflist({}, 'a', { id = qf_id, items = items })
    end

    -- later pages arrive in any order; they join the list in rank order
    local function on_page(n, err, result)
      if gen ~= current or failed then
        return
      end
      if err then
        failed = true
        c:close()
        report(o, err, { total = total, shown = shown, pages = npages, qf_id = qf_id })
        return
      end
      answers[n] = result
      while answers[next_page] do
        append(answers[next_page])
        answers[next_page] = nil
        next_page = next_page + 1
      end
      if next_page > last_page then
        done()
      end
    end

    c:request('search', { query = query, k = page, offset = 0, plain = o.plain }, function(err, r)
      if gen ~= current then
        c:close()
        return
      end
      if err then
        c:close()
        if err.code == 'parse_error' and type(err.offset) == 'number' and err.offset >= 0 then
          err.message = ('%s\n  %s\n  %s^'):format(err.message, query,
            string.rep(' ', vim.fn.strdisplaywidth(query:sub(1, err.offset))))
        end
        report(o, err)
        return
      end
      total = tonumber(r.total) or 0
      if #(r.hits or {}) == 0 then
        done()
        return
      end
      vim.fn.setqflist({}, ' ', { title = title, items = {} })
      qf_id = vim.fn.getqflist({ id = 0 }).id
      append(r)
      if o.open then
        local win = vim.api.nvim_get_current_win()
        vim.cmd('botright copen')
        vim.api.nvim_set_current_win(win)
      end
      if o.jump then
        local ok, jerr = pcall(vim.cmd, 'cc 1')
        if not ok then
          notify((tostring(jerr):gsub('^Vim%(%a+%):', '')), vim.log.levels.WARN)
        end
      end
      local want = math.min(limit, total)
      local offset = #r.hits
      if #r.hits < page then
        want = offset
      end
      while offset < want do
        local k = math.min(page, want - offset)
        last_page = last_page + 1
        local n = last_page
        local req = { query = query, k = k, offset = offset, plain = o.plain }
        c:request('search', req, function(perr, pr)
          on_page(n, perr, pr)
        end)
        offset = offset + k
      end
      if last_page == 1 then
        done()
      end
    end)
  end)
end

-- status(opts): one message with the daemon's protocol, index, documents and latency.
function M.status(opts)
  local o = resolve(opts)
  with_server(o, function(c, t)
    c:request('stats', nil, function(err, s)
      c:close()
      if err then
        report(o, err)
        return
      end
      local idx = type(s.index) == 'table' and s.index or {}
      local lat = type(s.latency_us) == 'table' and s.latency_us or {}
      notify(('%s on %s: index %s, generation %s, %s documents in %s segments; %s queries, '
        .. 'p50 %s µs, p99 %s µs; up %s s'):format(tostring(s.server), t.socket,
        tostring(idx.path), tostring(idx.generation), tostring(idx.documents),
        tostring(idx.segments), tostring(s.queries), tostring(lat.p50), tostring(lat.p99),
        tostring(s.uptime_s)))
      finish(o, nil, s)
    end)
  end)
end

-- start(opts): starts kqd for the index (without asking).
function M.start(opts)
  local o = resolve(opts)
  local t, terr = target(o)
  if not t or not t.index then
    report(o, { code = 'no_index', message = terr or 'no index to serve' })
    return
  end
  client.open(t.socket, { timeout_ms = o.timeout_ms }, function(err, c)
    if not err then
      c:close()
      notify('kqd is already running on ' .. t.socket)
      finish(o, nil, t)
      return
    end
    start_daemon(o, t, function(serr)
      if serr then
        report(o, { code = 'not_running', message = serr })
      else
        notify('kqd is running on ' .. t.socket)
        finish(o, nil, t)
      end
    end)
  end)
end

return M
