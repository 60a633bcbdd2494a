/* trace.h — the cost of tracing: TRACE_TASKS tasks of about 1 us of work
 * each (TRACE_TASK_ITERS dependent multiply-adds) (plait_go into one group from a root task), timed
 * untraced and then traced (plait_pool_trace_start, buffers large enough that nothing is dropped),
 * in the same process. Reported as ns per task for each (runtimes plait and plait_traced) and the
 * overhead in percent, by medians, minima and CPU time; the target is at most 10%. Tasks: 100,000
 * (--quick 20,000; --size N). */
#ifndef PERF_TRACE_H
#define PERF_TRACE_H
#define TRACE_TASKS(cfg) ((cfg)->size ? (cfg)->size : (cfg)->quick ? 20000ull : 100000ull)
#define TRACE_TASK_ITERS 1000u
#endif
