# A Python process with more threads than the BPF walker searches
# (PY_MAX_THREADS, 512, in bpf/python.bpf.h): argv[2] idle threads started
# after the main thread, which then spins. CPython links a new thread state
# at the head of its interpreter's list, so the main thread's lies past the
# first 512 and the walker ends its Python part with the
# "[python: thread state not found]" marker
# (tests/integration/test_python.py). Runs for argv[1] seconds.
import sys
import threading
import time


def main_spin(deadline):
    x = 0
    while time.time() < deadline:
        for i in range(1000):
            x ^= i
    return x


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    threading.stack_size(64 << 10)
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait) for _ in range(count)]
    for t in threads:
        t.start()
    main_spin(time.time() + seconds)
    stop.set()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
