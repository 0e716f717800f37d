"""Scenario 5: the web server stopped. SDK clients keep serving the last mode they heard,
from memory while they run and from their cache directory after their own restart (a new
process, the server still down); when the server is back they follow the next change."""

import json
import subprocess
import sys
import time

from failsafe_client import Failsafe

from faults.figures import table
from faults.stack import wait_for
from faults.world import person, system_with_token

RESTARTED = """
import json, sys, time
from failsafe_client import Failsafe
started = time.monotonic()
client = Failsafe(sys.argv[1], sys.argv[2], cache_dir=sys.argv[3], default_mode="ai")
mode = client.mode(sys.argv[4])
print(json.dumps({"mode": mode, "seconds": time.monotonic() - started}))
client.close()
"""


def test_clients_serve_the_last_mode_from_memory_and_disk_while_the_server_is_down(
    stack, figures, tmp_path
):
    from systems.services import mode_change

    system, token = system_with_token("faults-web-down", ["mode:read"])
    responder = person("faults-responder")
    folders = [tmp_path / f"client-{n}" for n in range(3)]
    clients = [Failsafe(stack.url, token, cache_dir=d, poll_interval=1.0) for d in folders]
    for client in clients:
        client.watch(system.slug, wait=True)
    mode_change(actor=responder, system=system, mode="degraded", reason="Fault suite: before")
    wait_for("clients on degraded", lambda: all(c.mode(system.slug) == "degraded" for c in clients))

    stack.web.stop()
    down = time.monotonic()
    reads = []
    while time.monotonic() - down < 5.0:
        reads.extend(c.mode(system.slug) for c in clients)
        time.sleep(0.01)
    for client in clients:
        client.close()
    restarted = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", RESTARTED, stack.url, token, str(d), system.slug],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
        )
        for d in folders
    ]

    # Back: a client started afresh follows the next change from the server.
    stack.web_start()
    back = time.monotonic()
    client = Failsafe(stack.url, token, cache_dir=folders[0], poll_interval=1.0)
    try:
        client.watch(system.slug, wait=True)
        changed = time.monotonic()
        mode_change(actor=responder, system=system, mode="off", reason="Fault suite: after")
        seen = wait_for("the restarted client on off", lambda: client.mode(system.slug) == "off")
    finally:
        client.close()
    served = sum(r == "degraded" for r in reads)
    figures(
        table(
            "5. The web server stopped: 3 SDK clients, last mode degraded",
            [
                {
                    "scenario": "web down, in memory",
                    "sent": len(reads),
                    "stored": served,
                    "lost": len(reads) - served,
                },
                {
                    "scenario": "web down, restarted",
                    "sent": len(restarted),
                    "stored": sum(r["mode"] == "degraded" for r in restarted),
                    "lost": sum(r["mode"] != "degraded" for r in restarted),
                },
                {"scenario": "web back, next change", "recover s": f"{seen:.2f}"},
            ],
            [
                "sent = mode() reads (in memory over 5 s) or restarted processes; stored = "
                "those answering the last mode; lost = those answering anything else",
                "a restarted process answered from its cache directory in "
                + ", ".join(f"{r['seconds'] * 1000:.0f} ms" for r in restarted),
                f"web server back in {changed - back:.2f} s; the change seen {seen:.2f} s "
                "after it was made",
            ],
        )
    )
    assert reads and served == len(reads)
    assert [r["mode"] for r in restarted] == ["degraded"] * len(folders)
