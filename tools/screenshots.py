#!/usr/bin/env python3
"""Screenshots of the three dashboard home pages for the README, in headless Chromium driven by
chromedriver (Debian packages `chromium` and `chromium-driver`) over the W3C WebDriver protocol.

Usage: start `dnma demo` (it serves http://127.0.0.1:8080), then
    python3 tools/screenshots.py [BASE_URL] [EDITOR_TOKEN] [PLATFORM] [PROJECT]
It logs in through the /connexion form (for the editor's page), and writes
docs/screenshots/{territoires,comparer,projet,conformite,direct}.png.
"""
import base64
import json
import subprocess
import sys
import time
import urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
TOKEN = sys.argv[2] if len(sys.argv) > 2 else "demo-editeur"
PLATFORM = sys.argv[3] if len(sys.argv) > 3 else "ONE_1D"
PROJECT = sys.argv[4] if len(sys.argv) > 4 else "ONE"
DRIVER = "http://127.0.0.1:9515"
# The last complete week (the demo's history runs to yesterday; the current week is incomplete).
import datetime
_today = datetime.date.today()
WEEK = f"?periode=semaine&debut={_today - datetime.timedelta(days=_today.weekday() + 7)}"


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(DRIVER + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)["value"]


driver = subprocess.Popen(["chromedriver", "--port=9515"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    time.sleep(1)
    caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"args": ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1800", "--hide-scrollbars"]}}}}
    session = call("POST", "/session", caps)["sessionId"]
    s = f"/session/{session}"

    def shot(url, name, wait=1.5):
        call("POST", s + "/url", {"url": BASE + url})
        time.sleep(wait)
        png = base64.b64decode(call("GET", s + "/screenshot"))
        with open(f"docs/screenshots/{name}.png", "wb") as f:
            f.write(png)
        print(f"docs/screenshots/{name}.png ({len(png)} bytes)")

    shot("/territoires" + WEEK, "territoires")
    shot("/territoires/comparer" + WEEK + "&a=departement:94&b=academie:Rennes", "comparer")
    shot(f"/projets/{PROJECT}" + WEEK, "projet")
    call("POST", s + "/url", {"url": BASE + "/connexion"})
    field = call("POST", s + "/element", {"using": "css selector", "value": "input[name=jeton]"})
    element = list(field.values())[0]
    call("POST", s + f"/element/{element}/value", {"text": TOKEN})
    button = list(call("POST", s + "/element", {"using": "css selector", "value": "form button"}).values())[0]
    call("POST", s + f"/element/{button}/click", {})
    time.sleep(0.5)
    shot(f"/conformite/{PLATFORM}", "conformite")
    # The live inspector fills as the demo's traffic arrives (from the platforms of its history).
    shot(f"/conformite/{PLATFORM}/direct", "direct", wait=8)
    call("DELETE", s)
finally:
    driver.terminate()
