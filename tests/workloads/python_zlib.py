# A Python function that spends its time in a C extension (zlib), for
# tests/integration/test_python.py. Runs for argv[1] seconds.
import os
import sys
import time
import zlib


def compress_loop(deadline, data):
    n = 0
    while time.time() < deadline:
        n += len(zlib.compress(data, 9))
    return n


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    data = os.urandom(1 << 14) + bytes(1 << 16)
    compress_loop(time.time() + seconds, data)


if __name__ == "__main__":
    main()
