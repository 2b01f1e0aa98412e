"""SIGHUP: the agent reads its configuration file again without stopping
sampling. A changed destination takes over from the next interval; a broken
file is refused with a log line and the running configuration goes on."""
import os
import signal
import sys
import time

from conftest import ROOT
from test_agent import Agent, named_workload, tmp, write_config  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.pyroscope import FakePyroscope  # noqa: E402


def pyroscope_yaml(url, service_label=None):
    rules = ""
    if service_label:
        rules = "    tag_rules:\n      - set: {key: team, value: %s}\n" % service_label
    return """
upload_interval: 1s
host: test-node
log:
  level: debug
destinations:
  - type: pyroscope
    url: %s
%s""" % (url, rules)


def mine(fake, service):
    return [r for r in fake.received if r["labels"]["service_name"] == service]


def test_sighup_switches_destination(tmp):
    with FakePyroscope() as old, FakePyroscope() as new:
        cfg = write_config(tmp, pyroscope_yaml(old.url))
        w = named_workload(tmp, "svc-reload")
        agent = Agent(cfg)
        try:
            time.sleep(3.5)
            assert mine(old, "svc-reload"), "nothing before the reload"
            write_config(tmp, pyroscope_yaml(new.url, "payments"))
            agent.proc.send_signal(signal.SIGHUP)
            time.sleep(1.5)
            before = len(mine(old, "svc-reload"))
            time.sleep(3)
            after = len(mine(old, "svc-reload"))
            pid = agent.proc.pid
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output
        assert "configuration reloaded" in agent.output
        # The old destination got nothing once the reload was done...
        assert after == before, (before, after)
        # ...and the new one every interval since, with its own rules.
        got = mine(new, "svc-reload")
        assert len(got) >= 3, len(got)
        assert all(r["labels"].get("team") == "payments" for r in got)
        # Sampling went on: one process the whole time.
        assert agent.output.count("sampling 2 CPU") + agent.output.count("sampling 1 CPU") == 1
        assert pid == agent.proc.pid


def test_sighup_with_a_broken_file_keeps_the_old_configuration(tmp):
    with FakePyroscope() as fp:
        cfg = write_config(tmp, pyroscope_yaml(fp.url))
        w = named_workload(tmp, "svc-keep")
        agent = Agent(cfg)
        try:
            time.sleep(2.5)
            write_config(tmp, pyroscope_yaml(fp.url) + "  - type: pyroscope\n    urll: x\n")
            agent.proc.send_signal(signal.SIGHUP)
            time.sleep(1)
            at_reload = len(mine(fp, "svc-keep"))
            time.sleep(3)
            later = len(mine(fp, "svc-keep"))
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output
        assert "keeping the current one" in agent.output
        assert "urll" in agent.output   # the reason, with the key
        assert later >= at_reload + 2, (at_reload, later)
