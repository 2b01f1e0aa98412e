# Python calling C calling Python: sorted() with a Python key function, so
# one eval loop call's frames sit between native frames of another
# (tests/integration/test_python.py). Runs for argv[1] seconds.
import sys
import time


def key_of(x):
    total = 0
    for i in range(40):
        total += (x * i) % 13
    return total


def sort_loop(deadline):
    data = list(range(300))
    while time.time() < deadline:
        sorted(data, key=key_of)


def main():
    sort_loop(time.time() + float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)


if __name__ == "__main__":
    main()
