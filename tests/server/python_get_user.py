"""Calls a UserService server with Debian's python3-thrift (run it with /usr/bin/python3).

Usage: python_get_user.py THRIFT_COMPILER IDL PORT buffered|framed binary|compact ID MISSING_ID

Generates the Python code into a temporary directory, then calls the server on 127.0.0.1:PORT:
prints user ID as "ID NAME EMAIL"; expects UserNotFound for MISSING_ID and prints
"not found: MISSING_ID"; creates a user, reads it back and prints "created NEW_ID". Anything else
raises, so the exit status is non-zero.
"""

import importlib
import shutil
import subprocess
import sys
import tempfile

from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.transport import TSocket, TTransport

TRANSPORTS = {"buffered": TTransport.TBufferedTransport, "framed": TTransport.TFramedTransport}
PROTOCOLS = {"binary": TBinaryProtocol.TBinaryProtocol, "compact": TCompactProtocol.TCompactProtocol}


def call_server(service, ttypes, port, transport_kind, protocol_kind, user_id, missing_id):
    socket = TSocket.TSocket("127.0.0.1", port)
    socket.setTimeout(5000)
    transport = TRANSPORTS[transport_kind](socket)
    client = service.Client(PROTOCOLS[protocol_kind](transport))
    transport.open()
    try:
        user = client.getUser(user_id)
        print(user.id, user.name, user.email)
        try:
            client.getUser(missing_id)
            raise AssertionError("no UserNotFound for %d" % missing_id)
        except ttypes.UserNotFound as not_found:
            assert not_found.id == missing_id, not_found
            print("not found:", missing_id)
        created = client.createUser("py", "py@example.com")
        assert client.getUser(created).email == "py@example.com"
        print("created", created)
    finally:
        transport.close()


def main(thrift, idl, port, transport_kind, protocol_kind, user_id, missing_id):
    out_dir = tempfile.mkdtemp(prefix="thriftpool-py-")
    try:
        subprocess.run([thrift, "--gen", "py", "-out", out_dir, idl], check=True, timeout=30)
        sys.path.insert(0, out_dir)
        service = importlib.import_module("user_service.UserService")
        ttypes = importlib.import_module("user_service.ttypes")
        call_server(service, ttypes, int(port), transport_kind, protocol_kind, int(user_id),
                    int(missing_id))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 8:
        sys.exit(__doc__)
    main(*sys.argv[1:])
