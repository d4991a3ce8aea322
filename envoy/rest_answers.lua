-- How a successful REST create or delete answers in HTTP's own terms, on the way back (scripts/exposure.py,
-- Rpc.rest_answer): its route's metadata says 201 with the collection the new resource's Location starts with, or
-- 204. Only the transcoder's JSON answers change: native gRPC, gRPC-Web and Connect answer in their own protocols. The
-- id is the first field of every resource the API creates, printed as a JSON string (an int64).
-- scripts/gateway.py puts this after envoy/request_checks.lua for the routes of those calls only: on the others, the
-- Lua filter runs on the way in alone, since a script on the way back costs every answer it sees, changed or not.
function envoy_on_response(handle)
  local answer = handle:metadata()
  local status, location = answer:get("status"), answer:get("location")
  if not status then
    return
  end
  local headers = handle:headers()
  local json = (headers:get("content-type") or ""):sub(1, 16) == "application/json"
  if not json or headers:get(":status") ~= "200" then
    return
  end
  -- body() waits for the whole answer: the headers must be asked for again after it (and the metadata before).
  local body = handle:body()
  local id = body:getBytes(0, body:length()):match('^%s*{%s*"id"%s*:%s*"(%d+)"')
  if status == "204" then
    body:setBytes("")
  end
  headers = handle:headers()
  if status == "204" then
    headers:remove("content-type")
    headers:remove("content-length")
  elseif id then
    headers:add("location", location .. id)
  end
  headers:replace(":status", status)
end
