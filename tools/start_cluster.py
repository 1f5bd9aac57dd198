"""make start-cluster: PostgreSQL, two Zope clients on it (RelStorage) and
nginx in front of them, all on this machine, in the foreground under
honcho (a process manager; Ctrl-C stops them all).

    python tools/start_cluster.py var/cluster      (what make runs)

HOST and PORT are nginx's (default 127.0.0.1:8080), as for make start; the
Zope clients listen on 127.0.0.1:PORT+1 and PORT+2, PostgreSQL on
127.0.0.1:PORT+3. ZOPE_ADMIN=name:password as for make start. Made once
in the directory given and kept: var/cluster/postgres (its data),
zope1/, zope2/ (the instances), tiles/ and uploads/ (the directories the
clients share), nginx/ (docs/nginx.conf with these ports and paths),
Procfile (what honcho runs). docs/cluster.txt says what each part is.
"""

import argparse
import os
import pwd
import shutil
import socket
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from tests.nginx_fixture import MAIN  # noqa: E402
from tests.nginx_fixture import NGINX  # noqa: E402
from tests.nginx_fixture import front_end_servers  # noqa: E402
from tests.postgres_fixture import BIN  # noqa: E402
from tests.postgres_fixture import DATABASE  # noqa: E402
from tests.postgres_fixture import RUN_AS  # noqa: E402
from tests.postgres_fixture import PostgreSQL  # noqa: E402
from ZoomifyImage.instance import write_instance  # noqa: E402

SETTINGS = """
<product-config zoomifyimage>
    storage filesystem
    tile-root %(tiles)s
    upload-dir %(uploads)s
    x-sendfile-header X-Accel-Redirect
    x-sendfile-prefix /protected-tiles/
</product-config>
"""


def wait_for(addresses, timeout=120):
    """Until each HOST:PORT takes a connection."""
    deadline = time.monotonic() + timeout
    for address in addresses:
        host, port = address.rsplit(":", 1)
        while True:
            try:
                socket.create_connection((host, int(port)), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("start-cluster: %s did not answer" % address)
                time.sleep(0.2)


def make(home, host, port):
    """The cluster's files (those missing); the Procfile's path."""
    home = os.path.abspath(home)
    os.makedirs(home, exist_ok=True)
    tiles = os.path.join(home, "tiles")
    uploads = os.path.join(home, "uploads")
    for folder in (tiles, uploads):
        os.makedirs(folder, exist_ok=True)
    os.chmod(tiles, 0o755)  # nginx's workers send the tiles
    postgres = PostgreSQL(home=os.path.join(home, "postgres"),
                          port=port + 3)
    os.makedirs(postgres.home, exist_ok=True)
    if not os.path.isdir(postgres.data):
        print("start-cluster: initdb %s" % postgres.data)
        postgres.init()
        postgres.stop()
    clients = []
    for n in (1, 2):
        instance = os.path.join(home, "zope%d" % n)
        conf = os.path.join(instance, "etc", "zope.conf")
        new = not os.path.exists(conf)
        write_instance(instance, host="127.0.0.1", port=port + n,
                       relstorage=postgres.dsn)
        if new:  # the shared directories, in place of the instance's own
            with open(conf) as f:
                text = f.read()
            start = text.index("<product-config zoomifyimage>")
            end = text.index("</product-config>", start) + len(
                "</product-config>\n")
            text = text[:start] + text[end:] + SETTINGS % {
                "tiles": tiles, "uploads": uploads}
            with open(conf, "w") as f:
                f.write(text)
        clients.append((instance, port + n))
    prefix = os.path.join(home, "nginx")
    for folder in ("", "tmp", "cache"):
        os.makedirs(os.path.join(prefix, folder), exist_ok=True)
    os.chmod(prefix, 0o755)
    servers = front_end_servers([p for _, p in clients], tiles, prefix, port)
    servers = servers.replace("listen 127.0.0.1:%d;" % port,
                              "listen %s:%d;" % (host, port))
    main = MAIN % {"user": "www-data", "prefix": prefix, "servers": servers}
    if os.getuid() != 0:  # workers as ourselves
        main = main.replace("user www-data;\n", "")
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(main)
    python = sys.executable
    runwsgi = os.path.join(os.path.dirname(python), "runwsgi")
    me = os.path.abspath(__file__)
    pg = "127.0.0.1:%d" % postgres.port
    postgres_command = "%s -D %s -h 127.0.0.1 -p %d -k %s" % (
        os.path.join(BIN, "postgres"), postgres.data, postgres.port,
        postgres.home)
    if os.getuid() == 0:
        postgres_command = "runuser -u %s -- %s" % (RUN_AS, postgres_command)
    lines = ["postgres: exec " + postgres_command]
    first = None
    for n, (instance, client_port) in enumerate(clients, 1):
        # the first client makes RelStorage's tables: the second waits
        waits = [pg] + ([first] if first else [])
        lines.append("zope%d: %s %s --wait %s -- %s %s" % (
            n, python, me, ",".join(waits), runwsgi,
            os.path.join(instance, "etc", "zope.ini")))
        first = first or "127.0.0.1:%d" % client_port
    lines.append("nginx: exec %s -p %s -e %s/error.log -c %s/nginx.conf "
                 "-g 'daemon off;'" % (NGINX, prefix, prefix, prefix))
    procfile = os.path.join(home, "Procfile")
    with open(procfile, "w") as f:
        f.write("\n".join(lines) + "\n")
    if os.getuid() == 0:
        owner = pwd.getpwnam(RUN_AS)
        os.chown(postgres.home, owner.pw_uid, owner.pw_gid)
    return procfile, postgres


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--wait":  # a Procfile line: wait, then run
        wait_for(argv[1].split(","))
        os.execv(argv[3], argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", help="the cluster's directory")
    parser.add_argument("--host", default=os.environ.get("HOST",
                                                         "127.0.0.1"))
    parser.add_argument("--port", type=int,
                        default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args(argv)
    procfile, postgres = make(args.home, args.host, args.port)
    honcho = shutil.which("honcho", path=os.path.dirname(sys.executable))
    if honcho is None:
        sys.exit("start-cluster: honcho is not installed (pip install -e "
                 "'.[cluster]')")
    print("start-cluster: nginx on http://%s:%d/ (Zope clients on "
          "127.0.0.1:%d and %d, PostgreSQL on 127.0.0.1:%d, database %s); "
          "Ctrl-C stops them all" % (args.host, args.port, args.port + 1,
                                     args.port + 2, postgres.port, DATABASE))
    sys.stdout.flush()
    os.execv(honcho, [honcho, "-f", procfile, "-d", os.path.dirname(
        procfile), "start"])


if __name__ == "__main__":
    main()
