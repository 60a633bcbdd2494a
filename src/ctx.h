/*
 * ctx — what a running task can ask of its context (ctx.c). For the parts
 * above that give a task more ways to fail (group_for.c's
 * plait_fail_item): the one way a failure's message is formatted and
 * kept.
 */
#ifndef PLAIT_CTX_H
#define PLAIT_CTX_H

#include <stdarg.h>

#include "core.h"

/* Replaces c's message with fmt formatted with ap (plait_fail's); out of
 * memory, c is left without one: the task still fails with its code. */
void pl_ctx_set_message(struct plait_ctx *c, const char *fmt, va_list ap);

#endif
