"""A person's browser for OAuth sign-ins in tests ($BROWSER="python browser.py %s"): opens the
address, follows the authorization server's redirects back to the client's 127.0.0.1 listener."""

import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=30) as page:
    page.read()
