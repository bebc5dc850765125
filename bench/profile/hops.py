#!/usr/bin/env python3
"""CPU per message of each hop of the bus's hot path, from `perf record -g`.

usage: hops.py PERF_DATA MESSAGES [HZ]

Reads the samples of PERF_DATA (perf script), files each under the first
hop whose pattern matches a frame, innermost frame first, and prints the
CPU time per message of each hop: samples / HZ / MESSAGES. MESSAGES is the
number of messages sent while perf recorded; HZ its sampling rate (-F).
Used by bench/profile/profile-row; the table "The hot path, hop by hop" in
README comes from it.
"""
import collections
import subprocess
import sys

# (hop, substrings of a frame's symbol), checked in this order per frame.
HOPS = [
    ("crc32c", ["crc32c", "update_sse42", "three_streams"]),
    ("wake the peer (futex)", ["wake_consumer", "futex_wake"]),
    ("claim + copy + commit", ["node::send", "claim_for_send", "finish_send",
                               "inbox_ring::try_claim", "inbox_ring::commit", "send_with"]),
    ("CAF message::save + type names", ["message::save", "message_types::save"]),
    ("record head + sender + guarded serializer",
     ["put_content", "start_message", "put_sender", "guarded_serializer"]),
    ("CAF request timer", ["set_request_timeout", "thread_safe_actor_clock"]),
    ("pending requests", ["pending_requests"]),
    ("rest of the proxy's forward", ["forwarder::forward", "shm_actor_proxy::enqueue",
                                     "outbox::send"]),
    ("CAF message::load + type names", ["message::load", "message_types::load",
                                        "message_types::resolve"]),
    ("record head + sender + guarded deserializer",
     ["read_content", "read_message_head", "read_sender", "guarded_deserializer"]),
    ("mailbox element + enqueue", ["make_mailbox_element", "scheduled_actor::enqueue",
                                   "actor_control_block::enqueue", "find_local",
                                   "actor_registry"]),
    ("dispatch", ["inbound_records"]),
    ("poll, peek, release", ["inbox_consumer::poll", "inbox_reader",
                             "inbox_consumer::handle_record", "check_committed"]),
    ("idle wait (spin, yield, park)", ["inbox_consumer::idle", "run_once", "sched_yield",
                                       "stand_by", "futex_wait", "__futex_abstimed"]),
    ("actor (CAF resume, behaviour, bench code)",
     ["behavior_impl::invoke", "scheduled_actor::resume", "mailbox_visitor",
      "trivial_match_case", "run_ready", "activate", "reactivate", "make_message",
      "mailbox_element"]),
    ("CAF scheduler", ["scheduler::worker", "coordinator"]),
]


def hop_of(frames):
    for frame in frames:
        for hop, patterns in HOPS:
            if any(p in frame for p in patterns):
                return hop
    return "other: " + frames[0][:50]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    data, messages = sys.argv[1], float(sys.argv[2])
    hz = float(sys.argv[3]) if len(sys.argv) > 3 else 2000.0
    script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,ip,sym"],
                            capture_output=True, text=True, check=True).stdout
    counts = collections.Counter()
    total = 0
    for sample in script.split("\n\n"):
        lines = [l.strip() for l in sample.strip().split("\n") if l.strip()]
        if len(lines) < 2:
            continue
        total += 1
        counts[hop_of([" ".join(l.split()[1:]) for l in lines[1:]])] += 1
    if total == 0 or messages <= 0:
        sys.exit("no samples, or no messages")
    for hop, n in counts.most_common(24):
        print("%7.3f us/msg %5.1f %%  %s" % (n / hz / messages * 1e6, 100.0 * n / total, hop))
    print("%7.3f us/msg in all (%d samples)" % (total / hz / messages * 1e6, total))


if __name__ == "__main__":
    main()
