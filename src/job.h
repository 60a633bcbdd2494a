/*
 * job — what a deque or the injection queue holds: a record that starts
 * with the function that runs it. A worker calls job->run on whatever it
 * took, without knowing what it took (libuv's struct uv__work carries its
 * work function the same way; Lace's task header starts with its
 * function pointer). The owner recovers its record with pl_container_of.
 *
 * Promise: run, ctx and owner are set before the job is published (a push's release or
 * the injection queue's), is called exactly once, by the worker that took
 * the job, and may end the job's lifetime (the job's memory may be gone
 * when it returns).
 */
#ifndef PLAIT_JOB_H
#define PLAIT_JOB_H

struct pl_worker;
struct pl_job;
struct plait_ctx;

typedef void (*pl_job_fn)(struct pl_worker *w, struct pl_job *job);

struct pl_job {
    pl_job_fn run;
    /* Where the job's completion is part of: a task's root context, or
     * for a join frame the joiner's context (the parent: a's own context
     * is built only when the frame is taken, join.c), which with the
     * owner compare below gives a wait the same answer as a's context
     * would. A wait reads it to tell whether it depends on the job
     * (worker.c); set, like run, before the job is published. */
    struct plait_ctx *ctx;
    /* What a wait on it would name as its target (pl_awaited.target): a
     * task's group (its root context, for a lone task), a join child's
     * context. The one-compare test for the common case. */
    const void *owner;
};

static inline void pl_job_run(struct pl_worker *w, struct pl_job *job)
{
    job->run(w, job);
}

#endif
