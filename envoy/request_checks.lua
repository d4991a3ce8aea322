-- What Envoy refuses before a request reaches the transcoder or a service (the HTTP filter of envoy.yaml after the
-- cors and browser-protocol filters). scripts/gateway.py puts QUERY_RULES in front of this file, built from the
-- descriptor set's REST bindings, and ALLOWED_ORIGINS, from GATEWAY_CORS_ORIGINS.
--
-- 1. Headers that gRPC metadata cannot carry. A REST request's headers become the call's metadata, and native gRPC
--    passes its own on. gRPC's library refuses some that HTTP allows, answering INTERNAL before any handler runs:
--    a name outside [0-9a-z_.-], a *-bin value that is not base64, a grpc-timeout it cannot parse. Worse, the harm
--    outlived the call: after one grpc-timeout: garbage through Envoy, 1,914 of the next 2,000 valid calls of
--    another client failed ("Error parsing 'grpc-timeout' metadata"), every later call with a deadline failed for
--    as long as we watched, while calls on other connections to the service did not. The failure sticks to the
--    HTTP/2 connection, as far as we can tell to the service's header compression table, which remembers the bad
--    header; and Envoy's few connections to a service carry every client's calls. So nothing of the sort is passed
--    on, from any client, in any protocol. A REST request may not send grpc-* or *-bin headers at all (they are
--    gRPC's own); a native gRPC call may, when they are well formed.
-- 2. A query parameter that names a field the path or the body already binds (DELETE /api/products/16?id=15
--    would delete product 15: the transcoder lets the query win over the path).
-- 3. CONNECT, which no route serves: it would otherwise hold its connection open unanswered.
-- 4. A call from a browser page of another origin than those ALLOWED_ORIGINS lists (GATEWAY_CORS_ORIGINS, put in
--    front of this file too): without CORS headers the browser would not let the page read the answer, but a call
--    that needs no preflight (a form's POST) would still be served. A page of the gateway's own origin (the admin
--    console) may call. Refused with 403 / PERMISSION_DENIED, its preflight too (an allowed origin's preflight was
--    answered by the cors filter before this one; any other OPTIONS goes on to the transcoder, which has no call
--    for it: 404).
-- On the way back, a REST create answers 201 with a Location, a delete 204: envoy/rest_answers.lua, which only the
-- routes of those calls run (this file's checks, then that one's answer), so that no other call pays for a second
-- run of Lua on its way back.
--
-- REST refusals are 400 (403 for an origin) with the google.rpc.Status JSON body (envoy.yaml's local_reply_config);
-- native gRPC ones INVALID_ARGUMENT (PERMISSION_DENIED) with the same message.

local NAME = "^[0-9a-z_.%-]+$"
local BASE64 = "^[A-Za-z0-9+/]*=?=?$"
-- 1 to 8 digits and a unit: hours, minutes, seconds, milli-, micro-, nanoseconds (gRPC's HTTP/2 protocol).
local TIMEOUT = "^%d%d?%d?%d?%d?%d?%d?%d?[HMSmun]$"

-- How Envoy tells native gRPC from anything else: application/grpc, or application/grpc+proto and the like.
-- Anything else is transcoded as REST. (gRPC-Web and Connect calls are native gRPC by now: envoy.yaml's filters
-- before this one turned them into it.)
local function is_native_grpc(content_type)
  return content_type == "application/grpc" or content_type:sub(1, 17) == "application/grpc+"
    or content_type:sub(1, 17) == "application/grpc;"
end

-- A name or an origin fit to quote in a message: unusual characters as '?', at most 64 of them.
local function quoted(text)
  return (text:sub(1, 64):gsub("[^%w%-_.:/]", "?"))
end

local function header_problem(name, value, native_grpc)
  if name:sub(1, 1) == ":" then
    return nil
  end
  if not name:match(NAME) then
    return "header " .. quoted(name) .. " cannot be passed on: gRPC metadata names are lower-case letters, " ..
      "digits, '-', '_' and '.'"
  end
  local binary, reserved = name:sub(-4) == "-bin", name:sub(1, 5) == "grpc-"
  if not native_grpc then
    if binary or reserved then
      return "header " .. name .. " cannot be passed on: grpc-* and *-bin names are gRPC's own"
    end
  elseif binary and not value:match(BASE64) then
    return "header " .. name .. ": a *-bin value must be base64"
  elseif name == "grpc-timeout" and not value:match(TIMEOUT) then
    return "header grpc-timeout: expected 1 to 8 digits and a unit (H, M, S, m, u or n), such as 500m"
  end
  return nil
end

local function unescaped(text)
  return (text:gsub("%+", " "):gsub("%%(%x%x)", function(hex) return string.char(tonumber(hex, 16)) end))
end

-- The first rule (most literal path first, as the transcoder matches) for this method and path.
local function query_rule(method, path)
  for _, rule in ipairs(QUERY_RULES) do
    if rule.method == method and path:match(rule.path) then
      return rule
    end
  end
  return nil
end

local function bound_by(rule, name)
  if rule.body_only then
    return "this call takes its fields from the body only"
  end
  if rule.path_fields[name] then
    return "the path names it, and a query parameter may not change it"
  end
  for prefix, _ in pairs(rule.body_fields) do
    if name == prefix or name:sub(1, #prefix + 1) == prefix .. "." then
      return "the body holds it, and a query parameter may not change it"
    end
  end
  return nil
end

local function query_problem(method, path)
  local question = path:find("?", 1, true)
  if not question then
    return nil
  end
  local rule = query_rule(method, path:sub(1, question - 1))
  if not rule then
    return nil
  end
  for pair in path:sub(question + 1):gmatch("[^&]+") do
    local name = unescaped(pair:match("^[^=]*"))
    local why = bound_by(rule, name)
    if why then
      return "query parameter " .. quoted(name) .. ": " .. why
    end
  end
  return nil
end

local INVALID_ARGUMENT = {http = "400", grpc = "3"}
local PERMISSION_DENIED = {http = "403", grpc = "7"}

local function refuse(handle, native_grpc, message, status)
  status = status or INVALID_ARGUMENT
  if native_grpc then
    handle:respond({[":status"] = "200", ["content-type"] = "application/grpc", ["grpc-status"] = status.grpc,
                    ["grpc-message"] = message})
  else
    handle:respond({[":status"] = status.http}, message)
  end
end

-- The origin of a page of another site that may not call, or nil. The gateway's own pages are those of its own host
-- and port, whatever the scheme: behind a load balancer that ends TLS, Envoy sees http where the browser saw https.
local function foreign_origin(headers)
  local origin = headers:get("origin")
  if not origin or ALLOWED_ORIGINS[origin] then
    return nil
  end
  if origin:match("^https?://(.*)$") == headers:get(":authority") then
    return nil
  end
  return origin
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local method = headers:get(":method")
  if method == "CONNECT" then
    handle:respond({[":status"] = "405", ["allow"] = "GET, POST, PUT, PATCH, DELETE"},
                   "CONNECT is not served here")
    return
  end
  local native_grpc = is_native_grpc(headers:get("content-type") or "")
  local origin = foreign_origin(headers)
  if origin then
    refuse(handle, native_grpc, "calls from pages of " .. quoted(origin) .. " are not allowed here " ..
           "(GATEWAY_CORS_ORIGINS lists the origins that are)", PERMISSION_DENIED)
    return
  end
  for name, value in pairs(headers) do
    local problem = header_problem(name, value, native_grpc)
    if problem then
      refuse(handle, native_grpc, problem)
      return
    end
  end
  if not native_grpc then
    local problem = query_problem(method, headers:get(":path") or "")
    if problem then
      refuse(handle, false, problem)
    end
  end
end
