"""Run and job ids (``new_id``): their random part is drawn from the kernel many ids at a time,
per thread; no two threads, and no forked child and its parent, hand out the same digits."""

from __future__ import annotations

import os
import re
import threading

from scheduler_core.model import new_id


def test_ids_are_sortable_hex_and_never_repeat_across_threads() -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def make() -> None:
        mine = [new_id() for _ in range(3000)]  # past several draws of random digits
        with lock:
            ids.extend(mine)

    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids.extend(new_id() for _ in range(3000))
    assert len(set(ids)) == len(ids) == 15_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len({i[12:] for i in ids}) == len(ids)  # the random parts alone differ too


def test_a_forked_child_draws_its_own_digits() -> None:
    new_id()  # this thread has random digits left over to hand out
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's leftover digits must not be reused
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = new_id()
    assert len(child) == 32
    assert child[12:] != parent[12:]
