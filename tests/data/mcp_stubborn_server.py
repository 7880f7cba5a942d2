"""The demo MCP server, made stubborn: it starts a grandchild (its pid written to the file named
by its first argument), ignores SIGTERM, and stays alive after its stdin closes. Only SIGKILL to
its whole process group ends both."""

import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mcp_demo_server

grandchild = subprocess.Popen(
    [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"]
)
Path(sys.argv[1]).write_text(str(grandchild.pid))
signal.signal(signal.SIGTERM, signal.SIG_IGN)
mcp_demo_server.server.run("stdio")
time.sleep(120)  # stdin closed: a well-behaved server exits here; this one does not
