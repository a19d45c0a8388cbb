-- wrk script for the collector: POST /event with SDK bodies of EVENTS events (env, default 1),
-- each request unique (so none is dropped as a retried body), User-Agent of a desktop browser.
-- Usage: EVENTS=20 wrk -t1 -c64 -d10s -s tools/wrk-event.lua http://127.0.0.1:18080
local events = tonumber(os.getenv("EVENTS") or "1")
local counter = 0
-- Seeded from the clock: unseeded, every run would send the same bodies as the last one and the
-- collector would answer them as retries (not stored), which inflates the figures.
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local thread_id = math.random(1, 1e9)
wrk.method = "POST"
wrk.path = "/event?s=612345&idclient=wrk"
wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

local template = '{"name":"page.display","data":{"service":"CAHIER_TEXTES","type":"NATIF","uai":"0350122T","projet":"ENT_35","exploitant":"ODE","plateforme":"ONE","profil":"ELEVE","user_id":"u%d","user_category":"ELEVE","page":"cahier_textes","site_level2":"0350122T","pageview_id":"pv-%d-%d-%d","device_timestamp_utc":1763888400.5,"event_collection_platform":"js","event_collection_version":"6.17.0","device_screen_width":1920,"device_screen_height":1080,"visitor_privacy_mode":"exempt"}}'

request = function()
  counter = counter + 1
  local parts = {}
  for i = 1, events do
    parts[i] = string.format(template, counter % 5000, thread_id, counter, i)
  end
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(parts, ",") .. ']}')
end
