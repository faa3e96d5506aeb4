"""A scripted session with Python's standard poplib against Mailroom.

Run by tests/tests/pop3.rs with the server's host and port; alice
(password pw-alice) has two messages, the second with a line starting
with a dot. Deletes message 1. Exits non-zero on the first failure.
"""

import poplib
import sys


def check(ok, what):
    if not ok:
        sys.exit(f"FAILED: {what}")


def main(host, port):
    p = poplib.POP3(host, int(port), timeout=30)
    caps = p.capa()
    check("UIDL" in caps and "TOP" in caps, f"CAPA {caps}")
    p.user("alice")
    p.pass_("pw-alice")
    count, size = p.stat()
    check(count == 2, f"STAT {count} {size}")
    resp, listing, _ = p.list()
    check(len(listing) == 2, f"LIST {listing}")
    resp, uids, _ = p.uidl()
    check(len(uids) == 2 and uids[0] != uids[1], f"UIDL {uids}")
    resp, lines, octets = p.retr(2)
    check(b".starts with a dot" in lines, f"RETR 2 {lines}")
    resp, lines, _ = p.top(1, 0)
    check(lines[-1] == b"" and b"Subject: one" in lines, f"TOP {lines}")
    p.dele(1)
    try:
        p.retr(1)
        check(False, "RETR of a deleted message worked")
    except poplib.error_proto:
        pass
    p.noop()
    p.quit()
    print("poplib session: all good")


if __name__ == "__main__":
    main(*sys.argv[1:3])
