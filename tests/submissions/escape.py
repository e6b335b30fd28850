"""Pokes at the sandbox's walls; the test reads what it found."""
import os
import socket
import subprocess


def attempt(fn):
    try:
        fn()
        return 1.0
    except Exception:
        return 0.0

def write_outside():
    with open("/work/main/verifier/__sandbox_escape__", "w") as f:
        f.write("x")

def write_tmp():
    with open("/tmp/__sandbox_escape__", "w") as f:
        f.write("x")

def connect():
    socket.create_connection(("127.0.0.1", 22), timeout=1).close()

def write_cwd():
    with open("inside.txt", "w") as f:
        f.write("ok")

def raw_disk():
    os.open("/dev/vda", os.O_RDONLY)

wrote_outside = attempt(write_outside)
wrote_tmp = attempt(write_tmp)
connected = attempt(connect)
wrote_cwd = attempt(write_cwd)
opened_disk = attempt(raw_disk)
visible_pids = float(len([p for p in os.listdir("/proc") if p.isdigit()]))
home_is_cwd = float(os.environ.get("HOME") == os.getcwd())
env_size = float(len(os.environ))
subprocess.Popen(["sleep", "313.7"])  # must die with the submission (a duration no other process uses)
