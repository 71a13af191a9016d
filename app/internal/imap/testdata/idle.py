"""IDLE with python's imaplib (3.11 has no idle(), so the command is driven by hand over the
client's own connection). Handshakes with the Go test over stdin/stdout: it prints a marker
when idling, the test changes the mailbox through the service, and the client reports what
the server announced.

usage: idle.py HOST PORT NUMBER PIN
"""
import imaplib
import json
import sys

host, port, number, pin = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
M = imaplib.IMAP4(host, port)
M.login(number, pin)
typ, data = M.select("INBOX")
out = {"exists_before": int(data[0]), "events": []}

tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
out["continuation"] = M.readline().decode().strip()


def step(marker, want):
    """Tell the test to act, then read untagged lines until one contains want."""
    print(marker, flush=True)
    sys.stdin.readline()
    while True:
        line = M.readline().decode().strip()
        out["events"].append(line)
        if want in line:
            return


step("IDLING", "EXISTS")        # test deposits a message
step("HEARD", "FETCH")          # test marks it heard over the service (as HTTP would)
step("DELETED", "EXPUNGE")      # test deletes it over the service
M.send(b"DONE\r\n")
out["done"] = M.readline().decode().strip()
typ, data = M.noop()
out["noop"] = typ
M.logout()
print(json.dumps(out), flush=True)
