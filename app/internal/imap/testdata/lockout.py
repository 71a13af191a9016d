"""Wrong PINs over IMAP make the client's address wait.

usage: lockout.py HOST PORT NUMBER WRONG_PIN RIGHT_PIN ATTEMPTS
"""
import imaplib
import json
import sys

host, port, number, wrong, right, attempts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
out = {"wrong": [], "same_session": []}

# One session: the server ends it after its per-session limit.
M = imaplib.IMAP4(host, port)
for i in range(3):
    try:
        M.login(number, wrong)
        out["same_session"].append("OK")
    except imaplib.IMAP4.abort as e:
        out["same_session"].append("abort: " + str(e))
        break
    except imaplib.IMAP4.error as e:
        out["same_session"].append("NO: " + str(e))

# Fresh sessions until the address must wait.
for i in range(attempts):
    M = imaplib.IMAP4(host, port)
    try:
        M.login(number, wrong)
        out["wrong"].append("OK")
    except imaplib.IMAP4.error as e:
        out["wrong"].append(str(e))
    M.shutdown()

M = imaplib.IMAP4(host, port)
try:
    M.login(number, right)
    out["right"] = "OK"
except imaplib.IMAP4.error as e:
    out["right"] = str(e)
print(json.dumps(out))
