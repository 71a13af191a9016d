"""STARTTLS and implicit TLS with python's imaplib, verifying the server's certificate.

usage: tls.py HOST PLAIN_PORT TLS_PORT CAFILE NUMBER PIN
"""
import imaplib
import json
import ssl
import sys

host, plain, implicit, cafile, number, pin = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
ctx = ssl.create_default_context(cafile=cafile)
out = {}

M = imaplib.IMAP4(host, plain)
out["plain_caps"] = sorted(M.capabilities)
try:
    M.login(number, pin)
    out["plain_login"] = "OK"
except imaplib.IMAP4.error as e:
    out["plain_login"] = str(e)
M.starttls(ssl_context=ctx)
out["tls_caps"] = sorted(M.capabilities)
out["starttls_login"] = M.login(number, pin)[0]
out["starttls_select"] = M.select("INBOX")[0]
M.logout()

M = imaplib.IMAP4_SSL(host, implicit, ssl_context=ctx)
out["implicit_version"] = M.sock.version()
# AUTHENTICATE PLAIN through imaplib's continuation exchange (no initial response).
out["implicit_login"] = M.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (number, pin)).encode())[0]
M.logout()
print(json.dumps(out))
