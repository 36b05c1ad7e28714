-- kq/xxh3.lua: XXH3-64 (xxHash 0.8, seed 0, default secret) of a Lua string, as 16
-- lowercase hex digits. kqd names its socket by this hash of the index directory when the
-- directory is too deep for a socket address (PROTOCOL.md, "Conventions"), so the plugin
-- must compute exactly what libxxhash computes.
--
-- Lua 5.1 (and LuaJIT without its FFI) has no 64-bit integers, so a 64-bit word is a pair
-- of numbers {hi, lo}, each in [0, 2^32). Every intermediate value below stays under 2^53
-- and is therefore exact in a double; `bit` (LuaJIT's, or the lua-bitop Neovim bundles
-- with PUC Lua) does the 32-bit logic and returns signed results, which `u32` folds back.
local bit = require('bit')
local bxor, band, bor, lshift, rshift = bit.bxor, bit.band, bit.bor, bit.lshift, bit.rshift
local floor, byte = math.floor, string.byte

local M = {}

local TWO32 = 4294967296

local function u32(x)
  return x % TWO32
end

local SECRET = {
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
}
local SECRET_SIZE = #SECRET

local function w(hi, lo)
  return { hi, lo }
end

local PRIME32_1 = w(0, 0x9E3779B1)
local PRIME32_2 = w(0, 0x85EBCA77)
local PRIME32_3 = w(0, 0xC2B2AE3D)
local PRIME64_1 = w(0x9E3779B1, 0x85EBCA87)
local PRIME64_2 = w(0xC2B2AE3D, 0x27D4EB4F)
local PRIME64_3 = w(0x165667B1, 0x9E3779F9)
local PRIME64_4 = w(0x85EBCA77, 0xC2B2AE63)
local PRIME64_5 = w(0x27D4EB2F, 0x165667C5)
local PRIME_MX1 = w(0x16566791, 0x9E3779F9)
local PRIME_MX2 = w(0x9FB21C65, 0x1E98DF25)

-- 32 x 32 -> 64 bits, exact: 16-bit halves keep every partial product under 2^33.
local function mul32(a, b)
  local a0, a1 = a % 65536, floor(a / 65536)
  local b0, b1 = b % 65536, floor(b / 65536)
  local mid = a0 * b1 + a1 * b0
  local lo = a0 * b0 + (mid % 65536) * 65536
  local carry = floor(lo / TWO32)
  return a1 * b1 + floor(mid / 65536) + carry, lo % TWO32
end

local function add(a, b)
  local lo = a[2] + b[2]
  local carry = lo >= TWO32 and 1 or 0
  return w((a[1] + b[1] + carry) % TWO32, lo % TWO32)
end

local function sub(a, b)
  local lo = a[2] - b[2]
  local borrow = lo < 0 and 1 or 0
  return w((a[1] - b[1] - borrow) % TWO32, lo % TWO32)
end

local function xor(a, b)
  return w(u32(bxor(a[1], b[1])), u32(bxor(a[2], b[2])))
end

-- a * b mod 2^64
local function mul(a, b)
  local hi, lo = mul32(a[2], b[2])
  local _, c1 = mul32(a[1], b[2])
  local _, c2 = mul32(a[2], b[1])
  return w((hi + c1 + c2) % TWO32, lo)
end

local function shr(a, n) -- 0 < n < 64
  if n >= 32 then
    return w(0, u32(rshift(a[1], n - 32)))
  end
  return w(u32(rshift(a[1], n)), u32(bor(rshift(a[2], n), lshift(a[1], 32 - n))))
end

local function rotl(a, n) -- 0 < n < 64, n ~= 32
  local hi, lo = a[1], a[2]
  if n > 32 then
    hi, lo, n = lo, hi, n - 32
  end
  return w(u32(bor(lshift(hi, n), rshift(lo, 32 - n))), u32(bor(lshift(lo, n), rshift(hi, 32 - n))))
end

local function xorshift(a, n)
  return xor(a, shr(a, n))
end

local function swap32(x)
  local b0, b1, b2, b3 = x % 256, floor(x / 256) % 256, floor(x / 65536) % 256, floor(x / 16777216)
  return ((b0 * 256 + b1) * 256 + b2) * 256 + b3
end

local function swap64(a)
  return w(swap32(a[2]), swap32(a[1]))
end

-- the full 128-bit product, folded: low 64 bits xor high 64 bits
local function mul128_fold64(a, b)
  local ll_hi, ll_lo = mul32(a[2], b[2])
  local lh_hi, lh_lo = mul32(a[2], b[1])
  local hl_hi, hl_lo = mul32(a[1], b[2])
  local hh_hi, hh_lo = mul32(a[1], b[1])
  -- cross = (ll >> 32) + (hl & 0xffffffff) + lh
  local c_lo = ll_hi + hl_lo + lh_lo
  local c_hi = lh_hi + floor(c_lo / TWO32)
  c_lo = c_lo % TWO32
  -- upper = (hl >> 32) + (cross >> 32) + hh; lower = (cross << 32) | (ll & 0xffffffff)
  local u_lo = hh_lo + hl_hi + c_hi
  local u_hi = (hh_hi + floor(u_lo / TWO32)) % TWO32
  u_lo = u_lo % TWO32
  return w(u32(bxor(c_lo, u_hi)), u32(bxor(ll_lo, u_lo)))
end

-- little-endian reads at 0-based byte offset `off` of string `s` (or the secret, s == nil)
local function read32(s, off)
  local b0, b1, b2, b3
  if s then
    b0, b1, b2, b3 = byte(s, off + 1, off + 4)
  else
    b0, b1, b2, b3 = SECRET[off + 1], SECRET[off + 2], SECRET[off + 3], SECRET[off + 4]
  end
  return ((b3 * 256 + b2) * 256 + b1) * 256 + b0
end

local function read64(s, off)
  return w(read32(s, off + 4), read32(s, off))
end

local function avalanche(h)
  h = xorshift(h, 37)
  h = mul(h, PRIME_MX1)
  return xorshift(h, 32)
end

local function xxh64_avalanche(h)
  h = xorshift(h, 33)
  h = mul(h, PRIME64_2)
  h = xorshift(h, 29)
  h = mul(h, PRIME64_3)
  return xorshift(h, 32)
end

local function rrmxmx(h, len)
  h = xor(h, xor(rotl(h, 49), rotl(h, 24)))
  h = mul(h, PRIME_MX2)
  h = xor(h, add(shr(h, 35), w(0, len)))
  h = mul(h, PRIME_MX2)
  return xorshift(h, 28)
end

local function mix16(s, off, soff)
  return mul128_fold64(xor(read64(s, off), read64(nil, soff)),
                       xor(read64(s, off + 8), read64(nil, soff + 8)))
end

local function len_0to16(s, len)
  if len > 8 then
    local lo = xor(read64(s, 0), xor(read64(nil, 24), read64(nil, 32)))
    local hi = xor(read64(s, len - 8), xor(read64(nil, 40), read64(nil, 48)))
    local acc = add(add(add(w(0, len), swap64(lo)), hi), mul128_fold64(lo, hi))
    return avalanche(acc)
  elseif len >= 4 then
    local in1, in2 = read32(s, 0), read32(s, len - 4)
    local keyed = xor(w(in1, in2), xor(read64(nil, 8), read64(nil, 16)))
    return rrmxmx(keyed, len)
  elseif len > 0 then
    local c1, c2, c3 = byte(s, 1), byte(s, floor(len / 2) + 1), byte(s, len)
    local combined = ((c2 * 256 + c1) * 256 + len) * 256 + c3
    local bitflip = u32(bxor(read32(nil, 0), read32(nil, 4)))
    return xxh64_avalanche(w(0, u32(bxor(combined, bitflip))))
  end
  return xxh64_avalanche(xor(read64(nil, 56), read64(nil, 64)))
end

local function len_17to128(s, len)
  local acc = mul(w(0, len), PRIME64_1)
  if len > 32 then
    if len > 64 then
      if len > 96 then
        acc = add(acc, mix16(s, 48, 96))
        acc = add(acc, mix16(s, len - 64, 112))
      end
      acc = add(acc, mix16(s, 32, 64))
      acc = add(acc, mix16(s, len - 48, 80))
    end
    acc = add(acc, mix16(s, 16, 32))
    acc = add(acc, mix16(s, len - 32, 48))
  end
  acc = add(acc, mix16(s, 0, 0))
  acc = add(acc, mix16(s, len - 16, 16))
  return avalanche(acc)
end

local function len_129to240(s, len)
  local acc = mul(w(0, len), PRIME64_1)
  for i = 0, 7 do
    acc = add(acc, mix16(s, 16 * i, 16 * i))
  end
  acc = avalanche(acc)
  for i = 8, floor(len / 16) - 1 do
    acc = add(acc, mix16(s, 16 * i, 16 * (i - 8) + 3))
  end
  acc = add(acc, mix16(s, len - 16, 136 - 17))
  return avalanche(acc)
end

local function accumulate_512(acc, s, off, soff)
  for i = 0, 7 do
    local val = read64(s, off + 8 * i)
    local key = xor(val, read64(nil, soff + 8 * i))
    local j = bxor(i, 1) + 1
    acc[j] = add(acc[j], val)
    acc[i + 1] = add(acc[i + 1], w(mul32(key[2], key[1])))
  end
end

local function scramble(acc, soff)
  for i = 1, 8 do
    local a = xorshift(acc[i], 47)
    a = xor(a, read64(nil, soff + 8 * (i - 1)))
    acc[i] = mul(a, PRIME32_1)
  end
end

local function hash_long(s, len)
  local acc = { PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3,
                PRIME64_4, PRIME32_2, PRIME64_5, PRIME32_1 }
  local stripes_per_block = (SECRET_SIZE - 64) / 8
  local block_len = 64 * stripes_per_block
  local nb_blocks = floor((len - 1) / block_len)
  for n = 0, nb_blocks - 1 do
    for k = 0, stripes_per_block - 1 do
      accumulate_512(acc, s, n * block_len + 64 * k, 8 * k)
    end
    scramble(acc, SECRET_SIZE - 64)
  end
  local nb_stripes = floor(((len - 1) - block_len * nb_blocks) / 64)
  for k = 0, nb_stripes - 1 do
    accumulate_512(acc, s, nb_blocks * block_len + 64 * k, 8 * k)
  end
  accumulate_512(acc, s, len - 64, SECRET_SIZE - 64 - 7)
  local result = mul(w(0, len), PRIME64_1)
  for i = 0, 3 do
    result = add(result, mul128_fold64(xor(acc[2 * i + 1], read64(nil, 11 + 16 * i)),
                                       xor(acc[2 * i + 2], read64(nil, 11 + 16 * i + 8))))
  end
  return avalanche(result)
end

-- xxh3.hex(s): XXH3_64bits(s, #s) as 16 lowercase hex digits
function M.hex(s)
  local len = #s
  local h
  if len <= 16 then
    h = len_0to16(s, len)
  elseif len <= 128 then
    h = len_17to128(s, len)
  elseif len <= 240 then
    h = len_129to240(s, len)
  else
    h = hash_long(s, len)
  end
  return string.format('%08x%08x', h[1], h[2])
end

return M
