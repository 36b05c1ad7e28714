-- plugin/kq.lua: the :Kq commands (lua/kq/init.lua does the work). Neovim 0.7 or later.
if vim.g.loaded_kq then
  return
end
vim.g.loaded_kq = true

local function opts(a, extra)
  local o = extra or {}
  if a.bang then
    o.jump = false
  end
  return o
end

-- :Kq without words searches the word under the cursor, as free text
vim.api.nvim_create_user_command('Kq', function(a)
  if a.args == '' then
    require('kq').search(vim.fn.expand('<cword>'), opts(a, { plain = true }))
  else
    require('kq').search(a.args, opts(a))
  end
end, { nargs = '*', bang = true, desc = 'kq: search the index, hits into the quickfix list' })

vim.api.nvim_create_user_command('KqPlain', function(a)
  local q = a.args ~= '' and a.args or vim.fn.expand('<cword>')
  require('kq').search(q, opts(a, { plain = true }))
end, { nargs = '*', bang = true, desc = 'kq: search free text (no operators)' })

vim.api.nvim_create_user_command('KqStatus', function()
  require('kq').status()
end, { nargs = 0, desc = "kq: the daemon's index and figures" })

vim.api.nvim_create_user_command('KqStart', function()
  require('kq').start()
end, { nargs = 0, desc = 'kq: start kqd for the index' })

-- the text of a JSON-lines document a hit points at, from the daemon
vim.api.nvim_create_autocmd('BufReadCmd', {
  pattern = 'kq://*',
  callback = function(a)
    require('kq').read_doc(a.buf, a.match)
  end,
  desc = 'kq: a JSON-lines document from kqd',
})

-- read again when a newer search found it while it was on screen
vim.api.nvim_create_autocmd('BufEnter', {
  pattern = 'kq://*',
  callback = function(a)
    require('kq').enter_doc(a.buf, a.match)
  end,
  desc = 'kq: a JSON-lines document from kqd, read again after a new search',
})
