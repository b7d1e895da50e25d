/*
 * test_log.c -- unit tests of layer 1: redo log checksum, torn-log
 * detection, merging of bit operations, idempotent apply.
 */
#include "test_common.h"

#include "log/log.h"

static _Alignas(64) uint8_t logbuf[4096];
static struct flush_counters cnt;

static void test_log_roundtrip_valid(void **state)
{
	struct redo_log *log = (struct redo_log *)logbuf;
	static struct redo_buf b;
	redo_buf_init(&b);
	assert_int_equal(redo_buf_add(&b, 64, REDO_SET, 42), 0);
	assert_int_equal(redo_buf_add(&b, 128, REDO_OR, 1), 0);
	redo_write(&flush_ops_none, &cnt, NULL, 0, log, &b, 7);
	assert_int_equal(redo_valid(NULL, 0, log, REDO_MAX, NULL), 2);
	redo_invalidate(log);
	assert_int_equal(redo_valid(NULL, 0, log, REDO_MAX, NULL), -1);
}

static void test_log_torn_word_detected(void **state)
{
	struct redo_log *log = (struct redo_log *)logbuf;
	static struct redo_buf b;
	redo_buf_init(&b);
	for (unsigned i = 0; i < 10; i++)
		redo_buf_add(&b, 8 * i, REDO_SET, i * 1000 + 7);
	redo_write(&flush_ops_none, &cnt, NULL, 0, log, &b, 7);
	assert_int_equal(redo_valid(NULL, 0, log, REDO_MAX, NULL), 10);
	/* any single word of entries differing from what was summed */
	for (unsigned w = 0; w < 20; w++) {
		uint64_t *words = (uint64_t *)log->entries;
		uint64_t saved = words[w];
		words[w] ^= 0x100;
		assert_int_equal(redo_valid(NULL, 0, log, REDO_MAX, NULL), -1);
		words[w] = saved;
	}
	log->nseq = 9; /* count not matching the checksum */
	assert_int_equal(redo_valid(NULL, 0, log, REDO_MAX, NULL), -1);
	log->nseq = REDO_MAX + 1;
	assert_int_equal(redo_valid(NULL, 0, log, REDO_MAX, NULL), -1);
}

static void test_log_bit_ops_merge(void **state)
{
	static struct redo_buf b;
	redo_buf_init(&b);
	redo_buf_add(&b, 64, REDO_OR, 1);
	redo_buf_add(&b, 64, REDO_OR, 4);
	redo_buf_add(&b, 64, REDO_AND, ~UINT64_C(2));
	redo_buf_add(&b, 64, REDO_AND, ~UINT64_C(8));
	assert_int_equal(b.n, 2);
	assert_int_equal(b.e[0].value, 5);
	assert_true(b.e[1].value == ~UINT64_C(10));
}

static void test_log_apply_idempotent(void **state)
{
	static _Alignas(64) uint64_t pool[64];
	memset(pool, 0, sizeof(pool));
	pool[2] = 0xf0;
	static struct redo_buf b;
	redo_buf_init(&b);
	redo_buf_add(&b, 8, REDO_SET, 77);
	redo_buf_add(&b, 16, REDO_OR, 0x3);
	redo_buf_add(&b, 24, REDO_AND, 0);
	pool[3] = 0xff;
	for (int round = 0; round < 2; round++) {
		redo_apply(&flush_ops_none, &cnt, (char *)pool, b.e, b.n);
		assert_int_equal(pool[1], 77);
		assert_int_equal(pool[2], 0xf3);
		assert_int_equal(pool[3], 0);
	}
}

static void test_log_full_buffer_refused(void **state)
{
	static struct redo_buf b;
	redo_buf_init(&b);
	for (unsigned i = 0; i < REDO_MAX; i++)
		assert_int_equal(redo_buf_add(&b, 8 * i, REDO_SET, i), 0);
	assert_int_equal(redo_buf_add(&b, 8 * REDO_MAX, REDO_SET, 1), -1);
	/* SET entries never merge, so a full buffer refuses them too */
	assert_int_equal(redo_buf_add(&b, 0, REDO_SET, 5), -1);
}

static void test_log_stream(void **state)
{
	uint8_t buf[300];
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31 + 7);
	unsigned seed = 1;
	for (int round = 0; round < 500; round++) {
		seed = seed * 1103515245 + 12345;
		size_t len = (seed >> 8) % sizeof(buf);
		struct log_stream s;
		log_stream_init(&s, 42);
		size_t done = 0;
		while (done < len) {
			seed = seed * 1103515245 + 12345;
			size_t piece = 1 + (seed >> 8) % 20;
			if (piece > len - done)
				piece = len - done;
			log_stream_feed(&s, buf + done, piece);
			done += piece;
		}
		assert_int_equal(log_stream_end(&s), log_hash(42, buf, len));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_stream),
		cmocka_unit_test(test_log_roundtrip_valid),
		cmocka_unit_test(test_log_torn_word_detected),
		cmocka_unit_test(test_log_bit_ops_merge),
		cmocka_unit_test(test_log_apply_idempotent),
		cmocka_unit_test(test_log_full_buffer_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
