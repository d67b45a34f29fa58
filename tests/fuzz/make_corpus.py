#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets in tests/fuzz/corpus/.

    python3 tests/fuzz/make_corpus.py

Seeds are small, deterministic inputs in each target's input layout (see the
comment at the top of fuzz_frame_decoder.cpp and fuzz_relay_connection.cpp):
valid FLAG / ANNOUNCE / REQUEST_CHUNK / CHUNK_DATA streams, garbage, an
oversized header, a truncated frame, and relay scripts that reach the joining
phase, a whole honest exchange and the failure paths. Existing files of the
same name are overwritten; nothing else in the directory is touched.
"""
import hashlib
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_SEED_BYTES = 4096

# Frame types (common/frame.h).
FLAG, ANNOUNCE, ROSTER, REQUEST_CHUNK, IDLE, CHUNK_DATA, SEND_CHUNK, DONE, FINAL, ERROR, \
    CHALLENGE, AUTH, AUTH_OK, REFETCH, REFETCH_DATA, PEER_STATUS, HELLO = range(1, 18)
PROTOCOL_VERSION = 2
NO_CLAIM = 0xFF


def frame(frame_type, payload=b"", version=PROTOCOL_VERSION):
    return b"CX" + bytes([version, frame_type]) + struct.pack(">I", len(payload)) + payload


def flag(peer, count, chunk_bytes, returning=0):
    return frame(FLAG, struct.pack(">BBII", peer, count, chunk_bytes, returning))


def announce_payload(size, digest=bytes(32), claim=NO_CLAIM, exchange=bytes(32), rounds=0):
    return struct.pack(">Q", size) + digest + bytes([claim]) + exchange + struct.pack(">Q", rounds)


def announce(size, digest=bytes(32), claim=NO_CLAIM, exchange=bytes(32), rounds=0):
    return frame(ANNOUNCE, announce_payload(size, digest, claim, exchange, rounds))


def chunk_header(round_, peer, index, clock_us):
    return struct.pack(">QBIq", round_, peer, index, clock_us)


def request(round_, peer, index, clock_us):
    return frame(REQUEST_CHUNK, chunk_header(round_, peer, index, clock_us))


def chunk(frame_type, round_, peer, index, clock_us, data):
    return frame(frame_type, chunk_header(round_, peer, index, clock_us) + data)


def roster(files, costs, resume=(0, 0, 0)):
    payload = bytes([len(files)])
    for (size, digest), (chunk_us, other_us) in zip(files, costs):
        payload += struct.pack(">Q", size) + digest + struct.pack(">II", chunk_us, other_us)
    return frame(ROSTER, payload + struct.pack(">QQQ", *resume))


COSTS = [(6000, 600), (7000, 700), (8000, 800), (9000, 900)]


# ---- fuzz_frame_decoder: [mode, piece, piece, piece] + stream --------------
# mode bits 0-2: limit index into {1, 21, 64, 1000, 4096, 131072, 16 MiB, 0};
# bit 3: payload_space() reads; bits 4-5: direct-read minimum {1, 16, 4096, 0}.

def decoder_seed(mode, pieces, stream):
    return bytes([mode]) + bytes(pieces) + stream


def frame_decoder_seeds():
    rng = random.Random(1)
    data64 = bytes(rng.randrange(256) for _ in range(64))
    digest = hashlib.sha256(b"A.file").digest()
    every_type = b"".join([
        flag(1, 4, 64),
        announce(3907 * 131072, digest),
        roster([(100, digest)] * 4, COSTS),
        request(0, 1, 0, 600),
        frame(IDLE, struct.pack(">Q", 7)),
        chunk(CHUNK_DATA, 0, 2, 0, 7500, data64),
        chunk(SEND_CHUNK, 0, 0, 0, 22100, data64),
        frame(DONE, bytes([3, 1, 2, 3])),
        frame(FINAL, bytes([4]) + b"".join(struct.pack(">q", c) for c in (16800, 17800, 18800, 19800))),
        frame(ERROR, b"server full: all 4 client slots are taken"),
    ])
    return {
        "flag_announce_whole": decoder_seed(0x02, [0, 0, 0], flag(0, 4, 64) + announce(300, digest)),
        "request_chunk_bytewise": decoder_seed(0x02, [1, 1, 1], request(5, 1, 2, 9000) + frame(IDLE, bytes(8))),
        "chunk_data_direct_reads": decoder_seed(0x0a, [3, 9, 200], chunk(CHUNK_DATA, 0, 2, 0, 7500, data64) * 2),
        "chunk_data_limit_exceeded": decoder_seed(0x01, [0, 0, 0], chunk(CHUNK_DATA, 0, 2, 0, 7500, data64)),
        "every_type_split_7_13_2": decoder_seed(0x03, [7, 13, 2], every_type),
        "every_type_direct": decoder_seed(0x1b, [5, 0, 17], every_type),
        "empty_payloads": decoder_seed(0x06, [0, 0, 0], b"".join(frame(t) for t in range(1, 18))),
        "resume_frames": decoder_seed(0x02, [5, 11, 0], b"".join([
            flag(2, 4, 64, 0b0110),
            announce(300, digest, 2, hashlib.sha256(b"exchange").digest(), 7),
            announce(300, digest, 30),  # claim out of range: malformed
            roster([(100, digest)] * 4, COSTS, (3, 5, 9)),
            roster([(100, digest)] * 4, COSTS, (6, 5, 9)),  # resume past delivered: malformed
            frame(REFETCH, chunk_header(4, 1, 0, 0)),
            chunk(REFETCH_DATA, 4, 1, 0, 0, data64),
            frame(PEER_STATUS, struct.pack(">BBI", 3, 0, 60)),
            frame(PEER_STATUS, struct.pack(">BBI", 3, 2, 60)),  # present must be 0 or 1
        ])),
        "auth_handshake": decoder_seed(0x02, [9, 0, 0], frame(11, bytes(range(32))) + frame(12, bytes(64)) + frame(13, bytes(32))),
        "oversized_header": decoder_seed(0x06, [0, 0, 0], b"CX\x01\x06\xff\xff\xff\xff"),
        "oversized_control": decoder_seed(0x06, [0, 0, 0], b"CX\x01\x01\x00\x00\x10\x01"),
        "truncated_frame": decoder_seed(0x02, [4, 0, 0], flag(0, 4, 64) + request(0, 1, 0, 600)[:15]),
        "bad_magic": decoder_seed(0x02, [0, 0, 0], b"XC\x01\x01\x00\x00\x00\x06" + bytes(6)),
        "bad_version": decoder_seed(0x02, [0, 0, 0], frame(FLAG, bytes(6), version=1)),
        "unknown_types": decoder_seed(0x02, [0, 0, 0], frame(0) + frame(200)),
        "long_error_text": decoder_seed(0x04, [0, 0, 0], frame(ERROR, b"e" * 1100)),
        # Escaped for logs: a forged log line, a backslash, a terminal escape, 0xff.
        "error_text_escapes": decoder_seed(0x02, [0, 0, 0], frame(
            ERROR, b"bye\n0.0 ms [Server] exchange complete \\x41 \x1b[2J \xff")),
        "garbage": decoder_seed(0x05, [11, 0, 3], bytes(rng.randrange(256) for _ in range(200))),
        "big_chunk_direct": decoder_seed(0x0d, [64, 0, 0], chunk(SEND_CHUNK, 3, 1, 2, 1, bytes(rng.randrange(256) for _ in range(1000)))),
    }


# ---- fuzz_relay_connection: [config, sizes, sizes, extra] + operations -----
# config bit 0: honest; bit 1: auto ANNOUNCE; bits 2-3: fuzzed connection;
# bits 4-5: relay window {1, 2, 8, 32}; bits 6-7: peer window {1, 2, 8, 128}.
# extra bit 0: the server requires a token; bit 1: the fuzzed peer's token is wrong;
# bit 2: no grace period (a peer that leaves mid-exchange ends it).
# sizes: one nibble per connection into
SIZES = [0, 1, 2, 63, 64, 65, 100, 127, 128, 129, 191, 192, 200, 255, 256, 300]
# operations: low nibble = kind, high nibble = connection selector.
STEP_TO_PEER, STEP_TO_RELAY, RUN, INJECT, RAW, TAMPER_TO_RELAY, DROP, DUP, DISCONNECT, \
    CONNECT_NEW, ADVANCE, BACKLOG, DRAINED, TAMPER_TO_PEER, SHUTDOWN, STRUCTURED = range(16)
# DISCONNECT selector bit 3: cut the connection (the peer reconnects by itself)
# instead of killing the peer's process; bits 0-2 pick the connection.
CUT = 8
# CONNECT_NEW selector bit 3 (honest): restart a peer that vanished (or whose
# host gave up, or whose connection is dead).
RESTART = 8
# ADVANCE selector: the clock moves by kAdvanceMs[selector] ms.
ADVANCE_MS = [10000, 10000, 10000, 10000, 1, 10, 100, 499, 500, 1000, 4999, 5000, 9999, 30000,
              60000, 120000]
HANDSHAKE_TIMEOUT, MS_100, RECONNECT_PERIOD, SECOND, TWO_MINUTES = 0, 6, 8, 9, 15
# SHUTDOWN selectors: 12 the clock moves to the relay's next deadline (while
# paused: the end of the grace period); 14 it moves by the stall timeout (60 s).
# 11, then u8: Ctrl-C on that client process (index in start order).
CLIENT_CTRL_C, GRACE_EXPIRED, SERVER_RESTART, STALL, CTRL_C = 11, 12, 13, 14, 15
# STRUCTURED kinds past the plain ones (0 ANNOUNCE ... 6 AUTH).
S_CLAIM, S_REFETCH_DATA, S_SCHEDULED = 7, 8, 9


def op(kind, select=0, *args):
    return bytes([(select << 4) | kind]) + bytes(args)


def inject(select, frame_type, payload):
    return op(INJECT, select, frame_type, len(payload)) + payload


def raw(select, data):
    return op(RAW, select, len(data)) + data


def config(honest=False, announce_all=False, fuzzed=0, relay_window=2, peer_window=2):
    return (honest | (announce_all << 1) | (fuzzed << 2) | (relay_window << 4) | (peer_window << 6))


def sizes(a, b, c, d):
    return bytes([a | (b << 4), c | (d << 4)])


def relay_seed(cfg, size_nibbles, ops=b"", token=False, wrong_token=False, no_grace=False):
    return (bytes([cfg]) + sizes(*size_nibbles) + bytes([token | (wrong_token << 1) | (no_grace << 2)])
            + ops)


def claim(select, slot_file, slot, real_digest=True, rounds=0):
    """STRUCTURED ANNOUNCE on fuzzable connection `select`: the file of slot
    `slot_file`, claiming `slot` (index into 0, 1, 2, 3, 4, 25, 26, none)."""
    return op(STRUCTURED, select, S_CLAIM, slot_file, slot, (rounds << 1) | real_digest)


def scheduled(select, round_, what):
    """STRUCTURED: the frame the schedule says the connection's slot sends
    (what: 0 its request, 1 | (requester << 2) its CHUNK_DATA, 2 its DONE)."""
    return op(STRUCTURED, select, S_SCHEDULED, round_, what)


def play_round(round_, conns, answers):
    """Non-honest: every slot of `conns` (fuzzable selectors) sends its
    request of `round_`, then each (select, requester) in `answers` its chunk."""
    return (b"".join(scheduled(c, round_, 0) for c in conns)
            + b"".join(scheduled(c, round_, 1 | (q << 2)) for c, q in answers))


def relay_connection_seeds():
    # Nibbles: 4 -> 64 B (1 chunk), 8 -> 128 B (2), 15 -> 300 B (5), 0 -> empty.
    equal = (4, 4, 4, 4)
    unequal = (15, 9, 4, 0)
    # The exact round-0 requests of 4 one-chunk files, in non-honest mode:
    # A asks B at 0.6 ms, B asks C at 0.7, C asks D at 0.8, D asks A at 0.9.
    round0 = b"".join(
        op(STRUCTURED, conn, 1, 0, (conn + 1) % 4, 0) + struct.pack(">H", (6 + conn))
        for conn in range(4))
    five = (15, 15, 15, 15)  # 300 B: 5 chunks each, 15 rounds that move data
    # Non-honest: every connection plays round r of the schedule exactly.
    def play(round_, conns=(0, 1, 2, 3)):
        return play_round(round_, conns, [(c, 0) for c in conns])

    # One-chunk files: round 3 is all IDLE, then every slot reports DONE.
    def finish(conns):
        return b"".join(scheduled(c, 3, 0) for c in conns) + b"".join(scheduled(c, 0, 2) for c in conns)
    reconnect_seeds = {
        # A peer leaves mid-exchange and its restarted process takes its slot back.
        "honest_reconnect": relay_seed(config(honest=True), five,
                                       op(RUN, 0, 10) + op(DISCONNECT, 1) + op(RUN, 0, 5)
                                       + op(CONNECT_NEW, RESTART)),
        "honest_reconnect_window1": relay_seed(config(honest=True, relay_window=0, peer_window=0),
                                               unequal, op(RUN, 0, 8) + op(DISCONNECT, 2) + op(RUN, 0, 4)
                                               + op(CONNECT_NEW, RESTART)),
        "honest_reconnect_window128": relay_seed(config(honest=True, relay_window=3, peer_window=3), five,
                                                 op(RUN, 0, 3) + op(DISCONNECT, 0) + op(RUN, 0, 20)
                                                 + op(CONNECT_NEW, RESTART)),
        # Two leave; they come back one after the other.
        "honest_two_leave": relay_seed(config(honest=True), five,
                                       op(RUN, 0, 10) + op(DISCONNECT, 1) + op(RUN, 0, 2) + op(DISCONNECT, 3)
                                       + op(RUN, 0, 2) + op(CONNECT_NEW, RESTART) + op(RUN, 0, 3)
                                       + op(CONNECT_NEW, RESTART)),
        # The restarted process leaves again before it is back in; a third one makes it.
        "honest_leave_again": relay_seed(config(honest=True), five,
                                         op(RUN, 0, 12) + op(DISCONNECT, 2) + op(CONNECT_NEW, RESTART)
                                         + op(RUN, 0, 1) + op(DISCONNECT, 4) + op(CONNECT_NEW, RESTART)),
        # A stranger (another file) is offered the waiting slot and turned away.
        "honest_stranger_in_pause": relay_seed(config(honest=True), five,
                                               op(RUN, 0, 10) + op(DISCONNECT, 1) + op(CONNECT_NEW, 3)
                                               + op(RUN, 0, 5) + op(CONNECT_NEW, RESTART)),
        "honest_leave_while_joining": relay_seed(config(honest=True), five,
                                                 op(DISCONNECT, 0) + op(CONNECT_NEW, RESTART)),
        "honest_grace_expiry": relay_seed(config(honest=True), five,
                                          op(RUN, 0, 10) + op(DISCONNECT, 2) + op(RUN, 0, 4)
                                          + op(SHUTDOWN, GRACE_EXPIRED)),
        "honest_no_grace": relay_seed(config(honest=True), five,
                                      op(RUN, 0, 10) + op(DISCONNECT, 2) + op(RUN, 0, 4)
                                      + op(CONNECT_NEW, RESTART), no_grace=True),
        # The server is killed and restarted; every client is restarted.
        "honest_server_restart": relay_seed(config(honest=True), five,
                                            op(RUN, 0, 12) + op(SHUTDOWN, SERVER_RESTART)
                                            + op(CONNECT_NEW, RESTART) * 4),
        "honest_server_restart_in_pause": relay_seed(config(honest=True), unequal,
                                                     op(RUN, 0, 10) + op(DISCONNECT, 1)
                                                     + op(SHUTDOWN, SERVER_RESTART) + op(RUN, 0, 2)
                                                     + op(CONNECT_NEW, RESTART) * 4),
        # Once a crash (fixed in 4049f91): two peers away, one back and waiting
        # for its ROSTER, a third leaves: the returning one got PEER_STATUS.
        "honest_peer_status_while_returning": relay_seed(
            config(honest=True), five,
            op(RUN, 0, 10) + op(DISCONNECT, 1) + op(CONNECT_NEW, RESTART) + op(DISCONNECT, 0)
            + op(RUN, 0, 5) + op(DISCONNECT, 2)),
        "honest_peer_status_while_returning_min": relay_seed(
            config(honest=True), five,
            op(RUN, 0, 10) + op(DISCONNECT, 1) + op(CONNECT_NEW, RESTART) + op(DISCONNECT, 0)),
        "token_honest_reconnect": relay_seed(config(honest=True), five,
                                             op(RUN, 0, 12) + op(DISCONNECT, 2) + op(CONNECT_NEW, RESTART),
                                             token=True),
        # Non-honest: a newcomer claims the slot of one that left, then catches up
        # (its request of round 0 becomes a REFETCH answered by REFETCH_DATA).
        "announce_reconnect_catch_up": relay_seed(config(announce_all=True), equal,
                                                  play(0) + op(DISCONNECT, 1) + op(CONNECT_NEW)
                                                  + claim(4, 1, 1, True, 0) + scheduled(4, 0, 0)
                                                  + op(STRUCTURED, 2, S_REFETCH_DATA, 0)
                                                  + play(1, (0, 4, 2, 3)) + play(2, (0, 4, 2, 3))
                                                  + finish((0, 4, 2, 3))),
        # The connection is cut (not the process): the PeerHost connects again by
        # itself once the clock passes its reconnect attempt (500 ms).
        "honest_cut_reconnect": relay_seed(config(honest=True), five,
                                           op(RUN, 0, 10) + op(DISCONNECT, CUT | 1) + op(RUN, 0, 5)),
        "honest_cut_two": relay_seed(config(honest=True, relay_window=0, peer_window=3), unequal,
                                     op(RUN, 0, 8) + op(DISCONNECT, CUT | 0) + op(RUN, 0, 2)
                                     + op(DISCONNECT, CUT | 3) + op(ADVANCE, RECONNECT_PERIOD)
                                     + op(RUN, 0, 20)),
        "token_honest_cut": relay_seed(config(honest=True), five,
                                       op(RUN, 0, 12) + op(DISCONNECT, CUT | 2), token=True),
        # The server is killed; nobody is restarted: the peers reconnect by themselves.
        "honest_server_restart_reconnect": relay_seed(config(honest=True), five,
                                                      op(RUN, 0, 12) + op(SHUTDOWN, SERVER_RESTART)
                                                      + op(RUN, 0, 4) + op(ADVANCE, RECONNECT_PERIOD)
                                                      + op(RUN, 0, 30)),
        # A restored exchange without a grace period waits for its peers with
        # no deadline at all (see README, findings).
        "announce_restored_no_grace": relay_seed(config(announce_all=True), equal,
                                                 play(0) + op(SHUTDOWN, SERVER_RESTART)
                                                 + op(ADVANCE, TWO_MINUTES) * 3, no_grace=True),
        "announce_reconnect_claims": relay_seed(config(announce_all=True), equal,
                                                play(0) + op(DISCONNECT, 2) + op(CONNECT_NEW)
                                                + claim(4, 0, 2) + op(CONNECT_NEW) + claim(5, 1, 7, False, 3)
                                                + op(CONNECT_NEW) + claim(6, 2, 4) + op(CONNECT_NEW)
                                                + claim(7, 2, 2, True, 1) + play(1, (0, 1, 7, 3))
                                                + play(2, (0, 1, 7, 3)) + finish((0, 1, 7, 3))),
        "announce_grace_expiry": relay_seed(config(announce_all=True), equal,
                                            play(0) + op(DISCONNECT, 3) + op(SHUTDOWN, GRACE_EXPIRED)),
        "announce_server_restart": relay_seed(config(announce_all=True), equal,
                                              play(0) + op(SHUTDOWN, SERVER_RESTART)
                                              + b"".join(op(CONNECT_NEW) + claim(4 + i, i, i, True, 1)
                                                         for i in range(4))
                                              + play(1, (4, 5, 6, 7)) + play(2, (4, 5, 6, 7))
                                              + finish((4, 5, 6, 7))),
    }
    return reconnect_seeds | {
        "honest_equal": relay_seed(config(honest=True), equal),
        "honest_unequal_window1": relay_seed(config(honest=True, relay_window=0, peer_window=0), unequal),
        "honest_interleaved": relay_seed(config(honest=True), unequal,
                                         op(STEP_TO_PEER, 2) + op(STEP_TO_RELAY, 2) + op(RUN, 0, 3)
                                         + op(STEP_TO_PEER, 1) + op(BACKLOG, 1) + op(RUN, 0, 10)
                                         + op(BACKLOG, 0) + op(RUN, 0, 5)),
        "honest_tamper_request": relay_seed(config(honest=True, fuzzed=1), equal,
                                            op(RUN, 0, 2) + op(STEP_TO_PEER, 1) + op(TAMPER_TO_RELAY, 0, 20, 1)),
        "honest_tamper_chunk": relay_seed(config(honest=True, fuzzed=2), equal,
                                          op(RUN, 0, 4) + op(TAMPER_TO_RELAY, 0, 40, 0x80)),
        "honest_drop_and_dup": relay_seed(config(honest=True, fuzzed=3), unequal,
                                          op(RUN, 0, 2) + op(DUP, 0) + op(RUN, 0, 3) + op(DROP, 0)),
        "honest_fifth_client": relay_seed(config(honest=True), equal,
                                          op(RUN, 0, 2) + op(CONNECT_NEW, 4) + op(RUN, 0, 6) + op(CONNECT_NEW, 0)),
        "honest_deadline_then_newcomer": relay_seed(config(honest=True, fuzzed=0), equal,
                                                    op(ADVANCE, HANDSHAKE_TIMEOUT) + op(CONNECT_NEW, 8)
                                                    + op(RUN, 0, 3)),
        # The clock moves a second at a time: no deadline is reached, nothing changes.
        "honest_slow_clock": relay_seed(config(honest=True), five,
                                        op(RUN, 0, 2) + (op(ADVANCE, SECOND) + op(RUN, 0, 3)) * 8),
        # Output held back past the relay's limit: the stall timeout finds no
        # culprit (the relay waits on its own output) and the exchange goes on.
        "honest_backlog_stall": relay_seed(config(honest=True), five,
                                           op(BACKLOG, 1) + op(RUN, 0, 20) + op(SHUTDOWN, STALL)
                                           + op(BACKLOG, 0)),
        # Two minutes of silence: the relay's stall deadline comes first.
        "honest_clock_jump": relay_seed(config(honest=True), unequal,
                                        op(RUN, 0, 6) + op(ADVANCE, TWO_MINUTES)),
        # Ctrl-C on a client mid-exchange, and on one waiting to reconnect.
        "honest_client_ctrl_c": relay_seed(config(honest=True), five,
                                           op(RUN, 0, 10) + op(SHUTDOWN, CLIENT_CTRL_C, 1)),
        "honest_client_ctrl_c_reconnecting": relay_seed(config(honest=True), five,
                                                        op(RUN, 0, 10) + op(DISCONNECT, CUT | 1)
                                                        + op(RUN, 0, 2) + op(SHUTDOWN, CLIENT_CTRL_C, 1)
                                                        + op(RUN, 0, 5)),
        # The FLAG reaches A (an empty file: nobody asks it for chunks) saying
        # 32-byte chunks (byte 13 of the frame): A's link then refuses the
        # 64-byte SEND_CHUNK as a broken stream.
        "honest_tamper_flag_chunk_size": relay_seed(config(honest=True, fuzzed=0, peer_window=0),
                                                    (0, 4, 4, 4),
                                                    op(TAMPER_TO_PEER, 0, 13, 0x60) + op(RUN, 0, 10)),
        "honest_shutdown": relay_seed(config(honest=True), equal, op(RUN, 0, 5) + op(SHUTDOWN, 15)),
        "honest_stall": relay_seed(config(honest=True, fuzzed=1), unequal,
                                   op(RUN, 0, 6) + op(DROP, 0) + op(RUN, 0, 3) + op(SHUTDOWN, 14)),
        "announce_chunk_data": relay_seed(config(announce_all=True), equal,
                                          round0 + op(STRUCTURED, 1, 3, 0, 0, 0) + struct.pack(">H", 86) + bytes([64])),
        # Once a hang: 2^32 - 1 chunks announced made the relay replay every round (fixed in f1acd5e).
        "announce_huge_file": relay_seed(config(), equal,
                                         b"".join(op(STRUCTURED, conn, 0, 4) for conn in range(3))
                                         + op(STRUCTURED, 3, 0, 0x80) + struct.pack(">HHH", 0x3f, 0xffff, 0xffc0)),
        "joining_garbage": relay_seed(config(), equal,
                                      raw(0, bytes(random.Random(2).randrange(256) for _ in range(40)))
                                      + raw(1, b"CX\x01\x06\xff\xff\xff\xff") + op(DISCONNECT, 2) + op(CONNECT_NEW)),
        "joining_truncated_then_gone": relay_seed(config(), equal,
                                                  raw(0, announce(64)[:20]) + op(DISCONNECT, 0) + op(CONNECT_NEW)),
        "token_honest": relay_seed(config(honest=True), unequal, token=True),
        "token_honest_wrong_token": relay_seed(config(honest=True, fuzzed=2), equal,
                                               op(RUN, 0, 4) + op(CONNECT_NEW, 4), token=True, wrong_token=True),
        "token_announce_then_round0": relay_seed(config(announce_all=True), equal, round0, token=True),
        "token_auth_by_hand": relay_seed(config(), equal,
                                         op(STRUCTURED, 0, 6, 2) + op(STRUCTURED, 1, 6, 3)
                                         + inject(2, ANNOUNCE, announce_payload(64))
                                         + raw(3, b"CX\x01\x0c\x00\x00\x00\x40"), token=True),
        "token_flood": relay_seed(config(), equal, op(CONNECT_NEW) * 70 + op(STRUCTURED, 0, 6, 4), token=True),
        "joining_injected_frames": relay_seed(config(), equal,
                                              inject(0, ANNOUNCE, announce_payload(64))
                                              + inject(1, REQUEST_CHUNK, chunk_header(0, 2, 0, 700))
                                              + inject(2, ERROR, b"bye") + inject(3, 13, b"")
                                              + op(ADVANCE, 3)),
    }


def write(target, seeds):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    for name, data in sorted(seeds.items()):
        if len(data) > MAX_SEED_BYTES:
            sys.exit(f"{target}/{name}: {len(data)} bytes, more than {MAX_SEED_BYTES}")
        with open(os.path.join(directory, name), "wb") as out:
            out.write(data)
    print(f"{len(seeds)} seeds in {os.path.relpath(directory)}")


if __name__ == "__main__":
    write("frame_decoder", frame_decoder_seeds())
    write("relay_connection", relay_connection_seeds())
