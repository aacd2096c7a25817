-- wrk script for bench/peers.ts: each thread cycles through its share of a file of request
-- targets (one presigned "path?query" per line). For PUT, every request's body is unique in
-- each of its 64 KiB segments, so no store can skip the write by deduplicating blocks, and
-- incompressible.
-- Arguments: <targets file> <method> <body bytes>

local targets = {}
local method = "GET"
local size = 0
local seg = 65536
local base = ""
local pos = 1
local n = 0

local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

-- With WRK_REPORT set (bench/peers.ts sets it for PUT), the first few failed responses go to
-- stderr, so a failing cell says why. Not always: with a response() function wrk keeps every
-- response body, which slows large GETs.
if os.getenv("WRK_REPORT") then
  local failures = 0
  function response(status, headers, body)
    if status >= 300 and failures < 3 then
      failures = failures + 1
      io.stderr:write(string.format("%d %s\n", status, string.sub(body or "", 1, 400)))
    end
  end
end

function init(args)
  for line in io.lines(args[1]) do
    targets[#targets + 1] = line
  end
  method = args[2]
  size = tonumber(args[3])
  if size < seg then seg = size end
  -- Random bytes: a body compresses no better than photos, videos or encrypted backups do.
  math.randomseed(tid + 1)
  local bytes = {}
  for i = 1, math.max(seg - 16, 0) do bytes[i] = string.char(math.random(0, 255)) end
  base = table.concat(bytes)
  pos = (tid * 7919) % #targets + 1
  n = tid * 1000000000
end

local function body()
  if size == 0 then return nil end
  n = n + 1
  local parts = {}
  local left = size
  local i = 0
  while left > 0 do
    local len = math.min(seg, left)
    local head = string.format("%08x%08x", n % 4294967296, i)
    if len >= 16 then
      parts[#parts + 1] = head
      parts[#parts + 1] = string.sub(base, 1, len - 16)
    else
      parts[#parts + 1] = string.sub(head, 1, len)
    end
    left = left - len
    i = i + 1
  end
  return table.concat(parts)
end

function request()
  local target = targets[pos]
  pos = pos + 1
  if pos > #targets then pos = 1 end
  if method == "PUT" then
    return wrk.format("PUT", target, { ["Content-Type"] = "application/octet-stream" }, body())
  end
  return wrk.format("GET", target)
end
