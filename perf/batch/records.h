/* records.h — batch_records: N records, each hashed with a fixed cost,
 * fed one task per record from a single producer (the main thread):
 *   plait:      plait_go into a group of limit 256 (the producer blocks
 *               when the workers fall behind);
 *   omp_*:      #pragma omp task per record from one `single` producer
 *               (the runtime's own throttle: libgomp runs tasks undeferred
 *               past 64 per thread queued);
 *   seq:        the loop, one thread (the baseline);
 *   xargs:      batch_xargs.sh: `xargs -P T` runs one process per record
 *               (batch_seq --item I): it pays a fork+exec per item, so it
 *               runs fewer records (RECORDS_XARGS) and is compared per item.
 * value = ns per record (lower is better); items/s = 1e9 / value.
 * The check: the xor of every record's hash (order-free).
 * Records: 100,000 (--quick 20,000; --size N overrides); xargs 5,000
 * (--quick 1,000). A record is RECORD_BYTES bytes made from its index,
 * hashed RECORD_ROUNDS times with 64-bit FNV-1a: about 10 us. */
#ifndef PERF_BATCH_RECORDS_H
#define PERF_BATCH_RECORDS_H
#include <stdint.h>

#define RECORDS(cfg) ((cfg)->size ? (cfg)->size : (cfg)->quick ? 20000ull : 100000ull)
#define RECORDS_XARGS(quick) ((quick) ? 1000ull : 5000ull)
#define RECORD_BYTES 1024u
#define RECORD_ROUNDS 8u
#define RECORDS_LIMIT 256u

static inline uint64_t record_hash(uint64_t i)
{
    uint64_t h = 14695981039346656037ull;
    for (unsigned r = 0; r < RECORD_ROUNDS; r++)
        for (unsigned j = 0; j < RECORD_BYTES; j++) {
            h ^= (uint8_t)(i * 2654435761u + j * 31u + r);
            h *= 1099511628211ull;
        }
    return h;
}

static inline uint64_t records_expected(uint64_t n)
{
    uint64_t x = 0;
    for (uint64_t i = 0; i < n; i++)
        x ^= record_hash(i);
    return x;
}
#endif
