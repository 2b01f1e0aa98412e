# Three CPU-bound threads contending for the GIL, each in its own function
# and with its own OS thread name (tests/integration/test_python.py). A
# switch interval of 50 us makes the eval loop hand the GIL over thousands
# of times a second, and each thread also gives it up every 5 rounds of
# its loop in time.sleep(0), as a thread doing I/O does, so the time a
# thread spends taking it (on the CPU before it sleeps, and after it
# wakes) shows in a CPU profile. Runs for argv[1] seconds.
import ctypes
import sys
import threading
import time

PR_SET_NAME = 15


def name_thread(name):
    ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)


def spin_alpha(deadline):
    x = 0
    n = 0
    while time.time() < deadline:
        for i in range(500):
            x ^= i
        n += 1
        if n % 5 == 0:
            time.sleep(0)
    return x


def spin_beta(deadline):
    x = 0
    n = 0
    while time.time() < deadline:
        for i in range(500):
            x += i & 3
        n += 1
        if n % 5 == 0:
            time.sleep(0)
    return x


def spin_gamma(deadline):
    x = 1
    n = 0
    while time.time() < deadline:
        for i in range(500):
            x = (x * 3 + i) & 0xffff
        n += 1
        if n % 5 == 0:
            time.sleep(0)
    return x


def run(name, fn, deadline):
    name_thread(name)
    fn(deadline)


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    sys.setswitchinterval(0.00005)
    deadline = time.time() + seconds
    threads = [threading.Thread(target=run, args=(n, f, deadline))
               for n, f in (("gil-alpha", spin_alpha), ("gil-beta", spin_beta),
                            ("gil-gamma", spin_gamma))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
