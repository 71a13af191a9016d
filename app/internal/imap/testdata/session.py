"""An OMTP-style VVM session with python's imaplib, as the Android client drives it.

usage: session.py HOST PORT NUMBER PIN
Prints one JSON object with what the client saw; the Go test asserts on it and on the service.
"""
import base64
import email
import hashlib
import imaplib
import json
import re
import sys

host, port, number, pin = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}

M = imaplib.IMAP4(host, port)
out["capabilities"] = sorted(c.decode() if isinstance(c, bytes) else c for c in M.capabilities)
typ, _ = M.login(number, pin)
out["login"] = typ

typ, data = M.list()
out["list"] = [d.decode() for d in data]

typ, data = M.select("INBOX")
out["exists"] = int(data[0])
out["uidvalidity"] = int(M.untagged_responses.get("UIDVALIDITY", [b"0"])[0]) if "UIDVALIDITY" in M.untagged_responses else None
typ, data = M.status("INBOX", "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY)")
out["status"] = data[0].decode()

typ, data = M.uid("SEARCH", None, "ALL")
uids = [int(u) for u in data[0].split()]
out["uids"] = uids

# Headers and structure of every message, as the Android client fetches them.
typ, data = M.uid("FETCH", "1:*", "(FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE "
                  "BODY.PEEK[HEADER.FIELDS (FROM DATE SUBJECT MESSAGE-ID CONTENT-DURATION)])")
msgs = []
for part in data:
    if not isinstance(part, tuple):
        continue
    meta, header = part[0].decode(), part[1]
    h = email.message_from_bytes(header)
    msgs.append({
        "uid": int(re.search(r"UID (\d+)", meta).group(1)),
        "flags": re.search(r"FLAGS \(([^)]*)\)", meta).group(1),
        "size": int(re.search(r"RFC822.SIZE (\d+)", meta).group(1)),
        "multipart_mixed": '"MIXED"' in meta and '"AUDIO" "WAV"' in meta,
        "from": h["From"], "date": h["Date"], "subject": h["Subject"],
        "message_id": h["Message-ID"], "duration": h["Content-Duration"],
    })
out["messages"] = msgs

# The audio part (BODY.PEEK[2]) of the first message, decoded; and the full message parsed.
first = uids[0]
typ, data = M.uid("FETCH", str(first), "(BODY.PEEK[2])")
out["audio_sha256"] = hashlib.sha256(base64.b64decode(data[0][1])).hexdigest()
typ, data = M.uid("FETCH", str(first), "(BODY.PEEK[])")
full = data[0][1]
out["full_size"] = len(full)
m = email.message_from_bytes(full)
parts = [p for p in m.walk() if not p.is_multipart()]
out["part_types"] = [p.get_content_type() for p in parts]
out["full_audio_sha256"] = hashlib.sha256(parts[1].get_payload(decode=True)).hexdigest()
typ, data = M.uid("FETCH", str(first), "(FLAGS)")
out["flags_after_peek"] = data[0].decode()

# Mark the first heard, delete the last.
last = uids[-1]
typ, data = M.uid("STORE", str(first), "+FLAGS", "(\\Seen)")
out["store_seen"] = [d.decode() for d in data if d]
typ, data = M.uid("STORE", str(last), "+FLAGS.SILENT", "(\\Deleted)")
out["store_deleted_silent"] = [d.decode() for d in data if d]
typ, data = M.expunge()
out["expunged"] = [int(d) for d in data if d]
typ, data = M.uid("SEARCH", None, "UNSEEN")
out["unseen_after"] = [int(u) for u in data[0].split()]

typ, data = M.getquotaroot("INBOX")
out["quotaroot"] = [[x.decode() for x in d] for d in data]

M.close()
M.logout()
print(json.dumps(out))
