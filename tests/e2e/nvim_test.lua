-- tests/e2e/nvim_test.lua: the checks of nvim.sh, run by `nvim --headless` in the folder
-- of an index served by a real kqd. Prints "ok - ..." per check; on the first failure
-- prints the reason and exits with status 1. Environment (set by nvim.sh): KQ_TEST_DIR
-- (the scratch folder), KQ_TEST_KQD (the kqd program), KQ_TEST_DEEP (an index whose
-- socket path needs the XXH3 fallback), KQ_TEST_EXTRA (the index of the regression tests'
-- documents, served by kqd), KQ_TEST_BUILD (where kq-index is), XDG_RUNTIME_DIR.
local uv = vim.uv or vim.loop
local kq = require('kq')
local client = require('kq.client')

local dir = os.getenv('KQ_TEST_DIR')
local passed = 0

local function fail(msg)
  io.stderr:write('nvim_test.lua: FAIL: ' .. msg .. '\n')
  vim.cmd('cquit 1')
end

local function ok(msg)
  passed = passed + 1
  io.stdout:write('ok - ' .. msg .. '\n')
end

local function check(cond, msg)
  if not cond then
    fail(msg)
  end
end

-- every message of the plugin, with its level
local messages = {}
vim.notify = function(msg, level)
  messages[#messages + 1] = { msg = msg, level = level or vim.log.levels.INFO }
end

local function message_dump()
  local t = {}
  for _, m in ipairs(messages) do
    t[#t + 1] = ('[%d] %s'):format(m.level, m.msg)
  end
  return table.concat(t, '\n')
end

local function find_message(pattern, level)
  for _, m in ipairs(messages) do
    if m.msg:find(pattern) and (level == nil or m.level == level) then
      return m
    end
  end
end

-- search(query, opts): runs a search through the API and waits for its end
local function search(query, opts)
  local done
  opts = vim.tbl_extend('force', opts or {}, {
    on_done = function(err, info)
      done = { err = err, info = info }
    end,
  })
  kq.search(query, opts)
  check(vim.wait(20000, function()
    return done ~= nil
  end, 10), ('no end to the search %q; messages: %s'):format(query, message_dump()))
  return done.err, done.info
end

-- the hits kq --vimgrep printed for the same query
local expect = {}
for line in io.lines(dir .. '/expect.vimgrep') do
  local path, lnum, col, text = line:match('^([^:]+):(%d+):(%d+):(.*)$')
  expect[#expect + 1] = { file = dir .. '/work/' .. path, lnum = tonumber(lnum), col = tonumber(col),
                          text = text }
end

local function check_qf(what)
  local qf = vim.fn.getqflist()
  check(#qf == #expect, ('%s: %d quickfix entries, kq --vimgrep has %d'):format(what, #qf, #expect))
  for i, e in ipairs(expect) do
    local q = qf[i]
    local name = vim.api.nvim_buf_get_name(q.bufnr)
    check(name == e.file and q.lnum == e.lnum and q.col == e.col and q.text == e.text,
      ('%s: entry %d is %s:%d:%d:%s, kq --vimgrep says %s:%d:%d:%s'):format(what, i, name, q.lnum,
        q.col, q.text, e.file, e.lnum, e.col, e.text))
  end
end

-- 1. :Kq from the folder of the index: discovery, the quickfix list, the jump
local q = 'reciprocal defense procurement'
vim.cmd('Kq ' .. q)
check(vim.wait(20000, function()
  return find_message('hits for') ~= nil
end, 10), ':Kq did not finish; messages: ' .. message_dump())
check(#vim.fn.getqflist() > 0, ':Kq left the quickfix list empty: ' .. message_dump())
check_qf(':Kq')
check(vim.fn.getqflist({ title = 0 }).title == 'kq ' .. q, 'quickfix title: ' .. vim.fn.getqflist({ title = 0 }).title)
check(vim.fn.getqflist({ winid = 0 }).winid ~= 0, 'the quickfix window is not open')
check(vim.api.nvim_buf_get_name(0) == expect[1].file, ':Kq did not jump to the first hit: ' .. vim.api.nvim_buf_get_name(0))
local cur = vim.api.nvim_win_get_cursor(0)
check(cur[1] == expect[1].lnum and cur[2] == expect[1].col - 1,
  ('the cursor is at %d:%d, not on the matched word at %d:%d'):format(cur[1], cur[2] + 1, expect[1].lnum, expect[1].col))
local word = vim.api.nvim_get_current_line():sub(cur[2] + 1):match('^%a+') or ''
check(word:lower():match('^reciproc') or word:lower():match('^defen') or word:lower():match('^procur'),
  'the cursor is not on a query word but on ' .. word)
vim.cmd('cnext')
check(vim.api.nvim_buf_get_name(0) == expect[2].file and vim.api.nvim_win_get_cursor(0)[1] == expect[2].lnum,
  ':cnext does not reach the second hit')
check(find_message('5 of 5 hits', vim.log.levels.INFO), 'no summary message: ' .. message_dump())
ok(':Kq fills the quickfix list with the hits of kq --vimgrep, opens it and jumps to the first')

-- 2. pages: the first page is shown before the others, which join in rank order
vim.fn.setqflist({}, 'f')
local err, info = search(q, { page = 2, jump = false })
check(err == nil, 'paged search: ' .. vim.inspect(err))
check(info.pages == 3 and info.shown == 5 and info.total == 5, 'paged search: ' .. vim.inspect(info))
check_qf('pages of 2')
ok('with pages of 2 the hits arrive in 3 answers and join the list in rank order')

-- 3. a JSON-lines document opens as kq://<id>, its text read from the daemon (doc), at its
-- matched word (the hit's line and column are the .jsonl file's: 1 and 1)
local jl = {}
for line in io.lines(dir .. '/expect.jsonl.vimgrep') do
  jl[#jl + 1] = line
end
local jpath, jlnum, jcol = (jl[1] or ''):match('^([^:]+):(%d+):(%d+):')
check(#jl == 1 and jpath == 'docs/notes.jsonl', 'kq --vimgrep zyzzyva: ' .. table.concat(jl, '\n'))
err = search('zyzzyva')
check(err == nil, 'zyzzyva: ' .. message_dump())
local jq = vim.fn.getqflist()
check(#jq == 1 and vim.api.nvim_buf_get_name(jq[1].bufnr) == 'kq://note-1',
  'the JSON-lines hit is not kq://note-1: ' .. vim.inspect(jq))
check(tonumber(jlnum) == 1 and tonumber(jcol) == 1, 'kq --vimgrep zyzzyva: ' .. jl[1])
check(vim.api.nvim_buf_get_name(0) == 'kq://note-1', 'no jump to kq://note-1: ' .. vim.api.nvim_buf_get_name(0))
check(vim.deep_equal(vim.api.nvim_buf_get_lines(0, 0, -1, false), { 'first line', 'second zyzzyva line', 'third' }),
  'kq://note-1 holds ' .. vim.inspect(vim.api.nvim_buf_get_lines(0, 0, -1, false)))
check(vim.bo.buftype == 'nofile' and not vim.bo.modifiable and not vim.bo.modified, 'kq://note-1 is not a scratch buffer')
check(vim.deep_equal(vim.api.nvim_win_get_cursor(0), { 2, 7 }),
  'the cursor is not on the word of the hit in kq://note-1: ' .. vim.inspect(vim.api.nvim_win_get_cursor(0)))
ok('a JSON-lines hit opens kq://<id> with the text kqd returns for it, at its word')

-- 4. errors of the daemon are messages, never Lua errors
messages = {}
vim.v.errmsg = ''
local before = vim.fn.getqflist({ id = 0 }).id
vim.cmd('Kq (foo bar')
check(vim.wait(20000, function()
  return #messages > 0
end, 10), 'no message for a query syntax error')
local m = find_message("unbalanced '%('", vim.log.levels.ERROR)
check(m, 'the syntax error is not an error message: ' .. message_dump())
check(m.msg:find('\n  %(foo bar\n  %^'), 'no caret under the error: ' .. m.msg)
-- the caret goes under the '(' by display columns: Hangul takes 2 each
messages = {}
search('한국 (foo')
m = find_message("unbalanced '%('", vim.log.levels.ERROR)
check(m and m.msg:find('\n  한국 %(foo\n       %^$'), 'the caret after Hangul: ' .. message_dump())
check(vim.v.errmsg == '', 'a Vim error: ' .. vim.v.errmsg)
local log = vim.api.nvim_exec2 and vim.api.nvim_exec2('messages', { output = true }).output
  or vim.api.nvim_exec('messages', true)
check(not log:find('traceback') and not log:find('E5108'), 'a Lua error: ' .. log)
check(vim.fn.getqflist({ id = 0 }).id == before, 'a failed search replaced the quickfix list')
messages = {}
err = search('zzzzqqqxx')
check(err == nil and find_message('no match', vim.log.levels.WARN), 'no hits: ' .. message_dump())
ok('a query syntax error is an error message with a caret, no hits a warning; no Lua error')

-- 5. nobody listening: say how to start kqd (and ask first when told to)
messages = {}
local none = dir .. '/none.sock'
err = search(q, { socket = none, start_daemon = 'never' })
check(err and err.code == 'not_running', 'no daemon: ' .. vim.inspect(err))
m = find_message('kqd is not running', vim.log.levels.ERROR)
check(m and m.msg:find('start it with: kqd %-%-index ' .. vim.pesc(dir) .. '/work/%.kq %-%-socket ' .. vim.pesc(none)),
  'no daemon: ' .. message_dump())
local asked
local confirm = vim.fn.confirm
vim.fn.confirm = function(msg)
  asked = msg
  return 2 -- No
end
messages = {}
err = search(q, { socket = none, start_daemon = 'ask' })
vim.fn.confirm = confirm
check(asked and asked:find('Start it'), 'start_daemon=ask did not ask')
check(err and err.code == 'not_running' and find_message('start it with'), 'after No: ' .. message_dump())
ok('no daemon: the message says how to start kqd; start_daemon=ask asks first')

-- 6. a server that speaks another protocol version
local function fake_server(path, answer)
  local server = uv.new_pipe(false)
  assert(server:bind(path))
  server:listen(8, function()
    local c = uv.new_pipe(false)
    server:accept(c)
    local buf = ''
    c:read_start(function(_, chunk)
      if not chunk then
        c:close()
        return
      end
      buf = buf .. chunk
      for line in buf:gmatch('([^\n]*)\n') do
        local id = line:match('"id":(%d+)')
        c:write(answer(id) .. '\n')
      end
      buf = buf:gsub('.*\n', '')
    end)
  end)
  return server
end
local v2 = fake_server(dir .. '/v2.sock', function(id)
  return ('{"id":%s,"result":{"pong":true,"protocol":2,"server":"kqd 9.0"}}'):format(id)
end)
messages = {}
err = search(q, { socket = dir .. '/v2.sock' })
check(err and err.code == 'version', 'protocol 2: ' .. vim.inspect(err))
check(find_message('does not speak protocol 1.*protocol 2', vim.log.levels.ERROR), 'protocol 2: ' .. message_dump())
v2:close()
local v3 = fake_server(dir .. '/v3.sock', function(id)
  return ('{"id":%s,"error":{"code":"unsupported_version","message":"this server speaks protocol 3","offset":-1}}'):format(id)
end)
messages = {}
err = search(q, { socket = dir .. '/v3.sock' })
check(err and err.code == 'version' and find_message('speaks protocol 3'), 'unsupported_version: ' .. message_dump())
v3:close()
ok('a server of another protocol version is a clear message (ping or unsupported_version)')

-- 7. a deep index: the socket is named by the XXH3-64 of its path, as kqd names it
local deep = os.getenv('KQ_TEST_DEEP')
local real = uv.fs_realpath(deep)
local sock = client.socket_path(real)
check(#(real .. '/kqd.sock') > 107, 'the deep index is not deep enough: ' .. real)
check(uv.fs_stat(sock) and uv.fs_stat(sock).type == 'socket',
  ('the plugin computes %s for %s, where kqd does not listen'):format(sock, real))
messages = {}
vim.fn.setqflist({}, 'f')
err, info = search(q, { index = deep, jump = false })
check(err == nil and info.shown == 5, 'search of the deep index: ' .. message_dump())
local root = real:gsub('/%.kq$', '/')
check(vim.api.nvim_buf_get_name(vim.fn.getqflist()[1].bufnr):sub(1, #root) == root,
  'the hits of the deep index are not its files')
ok('a deep index: the XXH3-64 socket name is the one kqd listens on, and the search works')

-- 8. XXH3-64 at the lengths where the algorithm changes, as libxxhash computes it
local bytes = {}
for i = 0, 4095 do
  bytes[#bytes + 1] = string.char(i % 251 + 1)
end
bytes = table.concat(bytes)
local vectors = {
  { 0, '2d06800538d394c2' }, { 1, 'e12ef9d2eb86ceeb' }, { 3, 'ebce9b7632ae733b' },
  { 4, '988b7b9033ac4622' }, { 8, '16f217ea16232297' }, { 9, '17d143e7f447850a' },
  { 16, 'eb5aeb9a32450f6a' }, { 17, '6d458e1fff494078' }, { 128, 'ce22cae9106851df' },
  { 129, '7d4fc663f5958d40' }, { 240, 'a5a910b2d7e065b0' }, { 241, 'b6515f490cdd4ce5' },
  { 1024, 'b3cf1ea265cbc313' }, { 1025, 'b67f3054786f763a' }, { 4096, 'e1bebfef3a9d4849' },
}
local xxh3 = require('kq.xxh3')
for _, v in ipairs(vectors) do
  local got = xxh3.hex(bytes:sub(1, v[1]))
  check(got == v[2], ('XXH3-64 of %d bytes: %s, libxxhash says %s'):format(v[1], got, v[2]))
end
ok(('XXH3-64 equals libxxhash at %d lengths from 0 to 4096 bytes'):format(#vectors))

-- 9. :KqStatus
messages = {}
vim.cmd('KqStatus')
check(vim.wait(20000, function()
  return #messages > 0
end, 10), 'no :KqStatus message')
check(find_message('6 documents', vim.log.levels.INFO), ':KqStatus: ' .. message_dump())
ok(":KqStatus shows the daemon's index and figures")

-- 10. start_daemon=always starts kqd for the index and searches
messages = {}
vim.fn.setqflist({}, 'f')
err, info = search(q, { index = dir .. '/auto/.kq', start_daemon = 'always', kqd = os.getenv('KQ_TEST_KQD'), jump = false })
check(err == nil and info and info.shown == 5, 'start_daemon=always: ' .. message_dump())
check(find_message('starting kqd'), 'no message while starting kqd: ' .. message_dump())
ok('start_daemon=always starts kqd for the index, then the search runs')

-- 11. a kqd that cannot start: its reason is the message
messages = {}
err = search(q, { index = dir .. '/auto/docs', start_daemon = 'always', kqd = os.getenv('KQ_TEST_KQD') })
check(err and err.code == 'not_running', 'kqd on a folder without an index: ' .. vim.inspect(err))
check(find_message('failed: kqd: no index in', vim.log.levels.ERROR), 'kqd failing to start: ' .. message_dump())
ok("a kqd that cannot start: kqd's own reason is the message")

-- Regressions, on the documents of KQ_TEST_EXTRA
local extra = os.getenv('KQ_TEST_EXTRA')
local function lines()
  return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
end

-- 12. a JSON-lines hit goes to its word in the text, not to its line of the .jsonl file
err = search('quokka', { index = extra })
check(err == nil and vim.api.nvim_get_current_line() == 'Quokka is here'
  and vim.api.nvim_win_get_cursor(0)[2] == 0, 'quokka: ' .. vim.inspect(vim.api.nvim_win_get_cursor(0)) .. ' in ' .. lines())
err = search('wombat', { index = extra })
check(err == nil and vim.deep_equal(vim.api.nvim_win_get_cursor(0), { 1, 0 }),
  'wombat (the sixth line of the .jsonl file): ' .. vim.inspect(vim.api.nvim_win_get_cursor(0)) .. ' in ' .. lines())
ok("a JSON-lines hit goes to its word in the document's text, not to its line of the file")

-- 13. two .jsonl files holding the same id: each hit opens its own file's document
err, info = search('numbat', { index = extra, jump = false })
check(err == nil and info.shown == 2, 'numbat: ' .. message_dump())
local seen, texts = {}, {}
for i = 1, 2 do
  vim.cmd('cc ' .. i)
  local want = vim.b.kq_path:match('/dup1%.jsonl$') and 'apple numbat' or 'banana numbat'
  check(lines() == want, ('%s (%s) holds %s, not %s'):format(vim.api.nvim_buf_get_name(0), vim.b.kq_path, lines(), want))
  seen[#seen + 1] = vim.api.nvim_buf_get_name(0)
  texts[lines()] = true
end
check(texts['apple numbat'] and texts['banana numbat'], 'the documents: ' .. vim.inspect(texts))
check(seen[1] ~= seen[2] and (seen[1] == 'kq://dup' or seen[2] == 'kq://dup'), 'the buffers: ' .. vim.inspect(seen))
ok("two .jsonl files holding one id: each hit opens its own file's document, in its own buffer")

-- 14. a file whose name is not UTF-8 opens by its bytes (path_bytes)
err = search('latinword', { index = extra })
check(err == nil and vim.api.nvim_buf_get_name(0):sub(-8) == 'caf\233.txt'
  and lines() == 'latinword in a latin-1 named file', 'latinword: ' .. vim.api.nvim_buf_get_name(0) .. ': ' .. lines())
check(vim.base64 == nil or kq._base64_decode('YWI/Pz4+') == vim.base64.decode('YWI/Pz4+'), 'base64')
check(kq._base64_decode('') == '' and kq._base64_decode('Zg==') == 'f' and kq._base64_decode('Zm8=') == 'fo'
  and kq._base64_decode('/+8A') == '\255\239\0' and kq._base64_decode('Zm9v!') == nil, 'base64')
ok('a file whose name is not UTF-8 opens by its bytes (path_bytes)')

-- 15. kq://<id> is read again when a new search finds it (the index changed)
err = search('dugong', { index = extra })
check(err == nil and vim.api.nvim_buf_get_name(0) == 'kq://live' and lines() == 'old text about dugong',
  'dugong: ' .. vim.api.nvim_buf_get_name(0) .. ': ' .. lines())
vim.cmd('enew')
vim.fn.system({ 'sh', '-c', ([[cd '%s/..' && printf '%%s\n' '%s' >docs/live.jsonl && '%s/kq-index' -q docs]]):format(
  extra, '{"_id":"live","title":"Live","text":"new text about platypus"}', os.getenv('KQ_TEST_BUILD')) })
check(vim.v.shell_error == 0, 'kq-index again failed')
for _ = 1, 100 do
  err, info = search('platypus', { index = extra, jump = false })
  if info and info.shown == 1 then
    break
  end
  vim.wait(100)
end
check(info and info.shown == 1, 'kqd did not load the new index: ' .. message_dump())
vim.cmd('cc 1')
check(vim.api.nvim_buf_get_name(0) == 'kq://live' and lines() == 'new text about platypus',
  'after the index changed: ' .. vim.api.nvim_buf_get_name(0) .. ': ' .. lines())
ok('kq://<id> is read again from kqd when a new search finds it')

-- 16. g:kq_* set the Vimscript way: 0 is false, 1 is true
vim.cmd('cclose | enew | let g:kq_jump = 0 | let g:kq_open = 0')
local here = vim.api.nvim_get_current_buf()
err, info = search(q)
vim.cmd('unlet g:kq_jump g:kq_open')
check(err == nil and info.shown == 5, 'g:kq_jump = 0: ' .. vim.inspect(err))
check(vim.api.nvim_get_current_buf() == here, 'g:kq_jump = 0 jumped')
check(vim.fn.getqflist({ winid = 0 }).winid == 0, 'g:kq_open = 0 opened the quickfix window')
-- free text: the '(' is no operator (without plain, a syntax error)
vim.cmd('let g:kq_plain = 1')
err, info = search('(' .. q, { jump = false })
vim.cmd('unlet g:kq_plain')
check(err == nil and info.shown == 5, 'g:kq_plain = 1: ' .. vim.inspect(err))
ok('g:kq_jump = 0, g:kq_open = 0 and g:kq_plain = 1 mean false, false and true')

-- 17. a search superseded by a newer one ends at once (on_done with 'superseded') and its
-- connection closes, even with pages in flight
local open, conns, ends = client.open, {}, {}
client.open = function(path, oo, cb)
  open(path, oo, function(e, c, pong)
    if c then
      conns[#conns + 1] = c
      local request = c.request
      c.request = function(self, op, members, rcb)
        request(self, op, members, rcb)
        if #conns == 1 and op == 'search' and members.offset == 1 then
          -- its second page asked for: a newer search now
          vim.schedule(function()
            kq.search('zyzzyva', { jump = false, on_done = function(e2)
              ends[#ends + 1] = { name = 'newer', err = e2 }
            end })
          end)
        end
      end
    end
    cb(e, c, pong)
  end)
end
kq.search(q, { page = 1, jump = false, on_done = function(e)
  ends[#ends + 1] = { name = 'older', err = e }
end })
check(vim.wait(20000, function()
  return #ends >= 2
end, 10), 'the searches did not both end: ' .. vim.inspect(ends))
vim.wait(200)
client.open = open
check(#ends == 2 and ends[1].name == 'older' and ends[1].err and ends[1].err.code == 'superseded'
  and ends[2].name == 'newer' and ends[2].err == nil, 'the ends: ' .. vim.inspect(ends))
check(#conns == 2 and conns[1].closed and conns[2].closed, 'a connection left open')
check(vim.fn.getqflist({ title = 0 }).title == 'kq zyzzyva', 'the quickfix list: ' .. vim.fn.getqflist({ title = 0 }).title)
ok('a superseded search ends at once with on_done (superseded) and closes its connection')

io.stdout:write(('nvim_test.lua: %d passed\n'):format(passed))
vim.cmd('qa!')
