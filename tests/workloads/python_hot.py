# A three-level pure Python hot path on the main thread and a busy second
# thread (tests/integration/test_python.py). Runs for argv[1] seconds.
import sys
import threading
import time


def leaf_work(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def middle_step(n):
    return leaf_work(n) + 1


def outer_loop(deadline):
    while time.time() < deadline:
        middle_step(2000)


def side_spin(deadline):
    x = 0
    while time.time() < deadline:
        for i in range(1000):
            x ^= i
    return x


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    deadline = time.time() + seconds
    t = threading.Thread(target=side_spin, args=(deadline,), name="side")
    t.start()
    outer_loop(deadline)
    t.join()


if __name__ == "__main__":
    main()
