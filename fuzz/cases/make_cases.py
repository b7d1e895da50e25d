#!/usr/bin/env python3
# make_cases.py -- writes the hand-made inputs of fuzz/cases/ (one per bug of
# issue 13 the fuzz target reproduces).  Each .in is an input of the fuzz
# target (fuzz/fuzz_pool.c: seed byte, flags, patches); turn one into a pool
# file with `build/fuzz/pmfuzz_replay --pool fuzz/cases/X.in X.pool`.
# Geometry of the seeds (4 lanes, 8 MiB): lanes at 0x2000 (16 KiB each:
# redo 4 KiB, undo header at +0x1000, entries at +0x1040), chunk table at
# 0x12000, 31 chunks from 0x13000.  Seed 1 ("objects"): chunk 0 RUN(class
# 11) holds the root at 0x14f80, chunk 6 RUN(class 39, 7 blocks), chunk 8
# LARGE(3), chunk 13 FREE(18).  What it can NOT do: cases are only as good
# as the offsets above; tests/ should pin them with their own pool.
import os, struct
HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 8 << 20
LANES, LANE = 0x2000, 0x4000
TABLE, CHUNKS, CH = 0x12000, 0x13000, 256 << 10
F_RESIZE, F_HDR, F_REDO, F_UNDO, F_SIZE_HDR, F_BIGTX = 1, 2, 4, 8, 16, 32
# every case uses the 8 MiB seeds (the geometry above): both bits of 0xc0
F_GEOM_8M = 0xc0
def undo(l): return LANES + l * LANE + 0x1000
def raw(off, b):
    """absolute patches of up to 16 bytes each (region 7)"""
    out = b''
    while b:
        c, b = b[:16], b[16:]
        assert off % 8 == 0 and off // 8 < 1 << 24
        o = off // 8
        out += bytes([7 | (len(c) - 1) << 4, o & 0xff, (o >> 8) & 0xff, o >> 16]) + c
        off += 16
    return out
def q(*v): return b''.join(struct.pack('<Q', x & (2**64 - 1)) for x in v)
def w(name, seed, flags, patches):
    with open(os.path.join(HERE, name + '.in'), 'wb') as f:
        f.write(bytes([seed, flags | F_GEOM_8M]) + b''.join(patches))
SET, OR, AND, MARK = 0, 1, 2, 3
def op(o, off): return (o << 62) | off
# F1: a valid (re-sealed) redo log whose entry stores just past the pool
# (the guard page): recovery's redo_apply faults.
w('f1_redo_store_outside', 3, F_REDO, [raw(LANES + 16, q(op(SET, SIZE + 64), 7))])
# F2: a replayed redo entry rewrites the header's chunk_table_off after it
# was validated; heap_boot then reads the table from the new place.
w('f2_header_after_recovery', 3, F_REDO, [raw(LANES + 16, q(op(SET, 56), 1 << 40))])
# F3: an active undo log (lane 0, gen 5) whose entry "restores" 16 bytes
# over the chunk table: rollback writes metadata (chunk 0's header becomes
# garbage; open fails after writing the file).
w('f3_undo_targets_table', 0, F_UNDO, [
    raw(undo(0), q(5, 0, 0, 5)),
    raw(undo(0) + 64, q(TABLE, 16, 5, 0)),
    raw(undo(0) + 96, q(0x0123456789abcdef, 0x0123456789abcdef))])
# F3b: lane 3's active undo log "restores" a valid redo log (one SET just
# past the pool, seq 100) over its own lane's redo log.  Classification
# came before the rollback, so this open does not replay it, and recovery
# does not void it: the next open (pm_check_path after pm_close) replays
# it and faults.
M64 = 2**64 - 1
def log_hash(h, data):
    for i in range(0, len(data), 8):
        (x,) = struct.unpack_from('<Q', data, i)
        h = ((h ^ x) * 0x9E3779B97F4A7C15) & M64
        h ^= h >> 29
    return h
ent = q(op(SET, SIZE + 64), 7)
nseq = 1 | 100 << 8
cs = log_hash(log_hash(0x5245444f4c4f4721, q(nseq)), ent) or 1
w('f3_undo_plants_own_redo_log', 0, F_UNDO, [
    raw(undo(3), q(5, 0, 0, 5)),
    raw(undo(3) + 64, q(LANES + 3 * LANE, 32, 5, 0)),
    raw(undo(3) + 96, q(cs, nseq) + ent)])
# F4: lane 0 active (gen 5), start at the end of the inline area, next ->
# a block whose next is itself, holding one counting entry: the walk
# never ends (recovery hangs in undo_walk).
X = CHUNKS + 13 * CH
w('f4_undo_chain_cycle', 0, F_UNDO, [
    raw(undo(0), q(5, 12216, X, 5)),
    raw(X, q(X, 64 + 40)),
    raw(X + 64, q(X + 4096, 8, 5, 0)),
    raw(X + 96, q(42))])
# F5: an idle lane's overflow chain is a LARGE object linking to itself:
# tx_after_boot frees it up to 48 times (heap_release of the same chunks
# again and again): free extents overlap, later allocations overlap.
O = CHUNKS + 8 * CH
w('f5_idle_chain_duplicate', 1, 0, [raw(undo(0) + 16, q(O)), raw(O, q(O, 104))])
# F6: an idle lane's chain points at the root (a run block, not an undo
# block): tx_after_boot frees the root, then open refuses the pool for a
# root that is not allocated (and has written the file).
w('f6_idle_chain_frees_root', 1, 0, [raw(undo(0) + 16, q(0x14f80 - 0x40 + 0x40)),
                                     raw(0x14f80, q(0, 104))])
# F7: the root points at chunk 14, inside chunk 13's FREE(18) span, whose
# unreachable header says LARGE(1): pool_attach's heap_lookup accepts it,
# pm_check (which walks) does not.
w('f7_root_in_unreachable_large', 1, 0, [
    raw(TABLE + 14 * 8, q(2 | (1 << 32))),
    raw(4096, q(CHUNKS + 14 * CH, 64))])
# F8: an idle lane's chain links the same unreachable LARGE(1) at chunk 14:
# tx_after_boot frees it into extents that already cover it.
B = CHUNKS + 14 * CH
w('f8_free_unreachable_large', 1, 0, [
    raw(TABLE + 14 * 8, q(2 | (1 << 32))),
    raw(undo(0) + 16, q(B)), raw(B, q(0, 104))])
# F9: every lane's undo.gen is 2^64 - 2: recovery retires to 2^64 - 1, the
# next transaction's generation wraps to 0 = "no transaction active".
w('f9_undo_gen_wraps', 0, 0, [raw(undo(l), q(2**64 - 2)) for l in range(4)])
# F10: active carries no checksum: in seed 6 lane 2 is idle (active 0) and
# still holds gen 6's entry (the committed transaction's 12192-byte
# snapshot of the object at 0x213000).  One word, active = 6, and recovery
# rolls the committed transaction back: the object reads 'h' (0x68)
# instead of the committed 'V' (0x56), in its first 12192 bytes only.
# No oracle of the target sees it (the result is consistent): a
# regression test must check the bytes.
w('f10_active_flip_reverts_commit', 6, 0, [raw(undo(2) + 24, q(6))])
# F11: lane 0's redo log: 255 covers of the whole pool and a wrong
# checksum: every open (and pm_check, and pm_check_path) hashes 2 GB.
p = [raw(LANES, q(1, 255 | 9 << 8))]
for i in range(255):
    p.append(raw(LANES + 16 + 16 * i, q(op(MARK, 8), SIZE - 8)))
w('f11_covers_wrong_checksum', 0, 0, p)
# F13: a run of class 39 (7 blocks of 32 KiB, chunk 6) with bit 10 set:
# pm_open boots it, pm_check calls it inconsistent.
w('f13_bitmap_past_last_block', 1, 0, [raw(CHUNKS + 6 * CH, q(0x401))])
