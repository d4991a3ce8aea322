"""Test hosts on one machine: Linux network namespaces joined by veth pairs, one pair per link, so that a test can
cut or heal the link between two parts while every other link keeps working. Needs root and iproute2 (`ip`, `tc`).

A cut drops every packet on the link, both ways, silently (a queue of length 0 on each end): what a dead switch or a
firewall does, the hardest case, since neither side hears that anything is wrong and only timeouts tell. Links to
`ROOT` (the test's own namespace, where Envoy runs too) use addresses in a 10.x.0.0/16 that no route of this
machine uses.
"""
import concurrent.futures
import contextlib
import ctypes
import ipaddress
import os
import random
import subprocess

ROOT = 'root'  # the test process's own namespace
CLONE_NEWNET = 0x40000000  # setns(2): join a network namespace


def unavailable_reason():
    """Why namespaces cannot be made here (not root, no iproute2, a kernel or sandbox that refuses), or None."""
    if os.geteuid() != 0:
        return 'network namespaces need root'
    probe = f'ecom-probe-{os.getpid()}'
    try:
        subprocess.run(['ip', 'netns', 'add', probe], check=True, capture_output=True)
    except FileNotFoundError:
        return 'iproute2 (ip) is not installed'
    except subprocess.CalledProcessError as error:
        return f'ip netns add failed: {error.stderr.decode().strip()}'
    subprocess.run(['ip', 'netns', 'delete', probe], capture_output=True)
    return None


def _ip(*args):
    subprocess.run(['ip', *args], check=True, capture_output=True)


def _free_subnet():
    """A 10.x.0.0/16 that no address or route of this machine's own namespace overlaps."""
    routes = subprocess.run(['ip', '-o', 'route', 'show', 'table', 'all'], capture_output=True, text=True).stdout
    used = [ipaddress.ip_network(word, strict=False) for line in routes.splitlines() for word in line.split()[:1]
            if word[0].isdigit()]
    for second in random.sample(range(64, 250), 186):
        candidate = ipaddress.ip_network(f'10.{second}.0.0/16')
        if not any(candidate.overlaps(network) for network in used):
            return second
    raise RuntimeError('no free 10.x.0.0/16 for the test network')


class Network:
    """Namespaces named `hosts` and a veth pair for each link (a pair of host names, ROOT among them);
    remove() takes it all down. Link n has the addresses 10.x.n.1 (its first host) and 10.x.n.2 (its second)."""

    def __init__(self, hosts, links):
        self._tag = f'ecom{os.getpid() % 100_000}'
        self._namespaces = {host: f'{self._tag}-{host}' for host in hosts}
        self._links = {}  # frozenset of the two hosts -> {host: (device, address)}
        self._second = _free_subnet()
        try:
            for name in self._namespaces.values():
                _ip('netns', 'add', name)
                _ip('-n', name, 'link', 'set', 'lo', 'up')
            for number, (first, second) in enumerate(links, start=1):
                self._connect(number, first, second)
        except BaseException:
            self.remove()
            raise

    def _connect(self, number, first, second):
        ends = {first: (f'{self._tag}l{number}a', f'10.{self._second}.{number}.1'),
                second: (f'{self._tag}l{number}b', f'10.{self._second}.{number}.2')}
        self._links[frozenset((first, second))] = ends
        _ip('link', 'add', ends[first][0], 'type', 'veth', 'peer', 'name', ends[second][0])
        for host, (device, address) in ends.items():
            if host != ROOT:
                _ip('link', 'set', device, 'netns', self._namespaces[host])
            _ip(*self._in(host), 'address', 'add', f'{address}/24', 'dev', device)
            _ip(*self._in(host), 'link', 'set', device, 'up')

    def _in(self, host):
        return [] if host == ROOT else ['-n', self._namespaces[host]]

    def address(self, host, peer):
        """The address `peer` reaches `host` at, over their link."""
        return self._links[frozenset((host, peer))][host][1]

    def run_in(self, host):
        """The command prefix that runs a program on `host`."""
        return [] if host == ROOT else ['ip', 'netns', 'exec', self._namespaces[host]]

    def call_on(self, host, function):
        """function()'s result, called on `host` (not ROOT): in a thread that joins its network namespace first, so
        that the sockets it opens are that host's (its loopback, its ports)."""
        def joined():
            with open(f'/run/netns/{self._namespaces[host]}') as namespace:
                if ctypes.CDLL(None, use_errno=True).setns(namespace.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f'setns into {host} failed')
            return function()

        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as thread:
            return thread.submit(joined).result()

    def pids(self, host):
        """The processes running on `host` (not ROOT), whoever started them."""
        listed = subprocess.run(['ip', 'netns', 'pids', self._namespaces[host]], capture_output=True, text=True,
                                check=True).stdout
        return [int(pid) for pid in listed.split()]

    def cut(self, first, second):
        """Drop every packet between the two hosts from now on, both ways."""
        for host, (device, _address) in self._links[frozenset((first, second))].items():
            subprocess.run(['tc', *self._in(host), 'qdisc', 'add', 'dev', device, 'root', 'pfifo', 'limit', '0'],
                           check=True, capture_output=True)

    def heal(self, first, second):
        for host, (device, _address) in self._links[frozenset((first, second))].items():
            subprocess.run(['tc', *self._in(host), 'qdisc', 'del', 'dev', device, 'root'], check=True,
                           capture_output=True)

    def remove(self):
        """Delete the namespaces (their ends of the links go with them) and the links' ends in ROOT."""
        for ends in self._links.values():
            if ROOT in ends:
                with contextlib.suppress(subprocess.CalledProcessError):
                    _ip('link', 'delete', ends[ROOT][0])
        for name in self._namespaces.values():
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip('netns', 'delete', name)
