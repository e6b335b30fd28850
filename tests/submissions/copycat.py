"""A hostile submission: it tries every way to copy the expected value (the test fills in
the @...@ paths). Each found_* is the number it managed to steal, or 0."""
import glob
import os
import re
import socket

KEY, OTHER, OUT, SOCK, ABSTRACT = @KEY@, @OTHER@, @OUT@, @SOCK@, @ABSTRACT@
NUMBER = re.compile(r"(?:secret:|expected \[|answer = )\s*([0-9.]+)")


def steal(read):
    try:
        m = NUMBER.search(read())
        return float(m.group(1)) if m else 0.0
    except Exception:
        return 0.0


def text(path):
    with open(path, errors="replace") as f:
        return f.read()


def results():
    return "".join(text(p) for p in glob.glob(os.path.join(OUT, "**", "results.json"), recursive=True))


def grades():
    return "secret: 0.375" if "score" in text(os.path.join(OUT, "grades.csv")) else ""


def proc():
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if b"verifier" in cmd:
                return "secret: 0.375"
    return ""


def unix(address):
    def read():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(address)
            return s.recv(100).decode()
    return read


def walk():
    # Anything on the filesystem that looks like a key, a gradebook or someone's results.
    skip = {"/proc", "/sys", "/dev", "/usr"}
    seen = 0
    for top, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in skip and "site-packages" not in d]
        for name in files:
            seen += 1
            if name in ("results.json", "grades.csv") or name.endswith((".yaml", ".ipynb")):
                found = steal(lambda: text(os.path.join(top, name)))
                if found:
                    return f"secret: {found}"
        if seen > 20000:
            break
    return ""


found_key = steal(lambda: text(KEY))
found_other = steal(lambda: text(OTHER))
found_results = steal(results)
found_grades = steal(grades)
found_proc = steal(proc)
found_socket = steal(unix(SOCK))
found_abstract = steal(unix(ABSTRACT))
found_walk = steal(walk)
