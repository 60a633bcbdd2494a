/*
 * json — the one piece of JSON writing the trace and the dump share: a C
 * string as a JSON string (quotes, backslashes and control characters
 * escaped; NULL as null), written through a sink so that the dump's stdio
 * and the trace's line buffer use the same escaping.
 */
#ifndef PLAIT_JSON_H
#define PLAIT_JSON_H

#include <stddef.h>
#include <stdio.h>

typedef void (*pl_json_put)(void *sink, const char *bytes, size_t n);

/* The first max bytes of s (at most) as a quoted JSON string, in pieces
 * given to put. */
static inline void pl_json_escape(const char *s, size_t max, pl_json_put put, void *sink)
{
    put(sink, "\"", 1);
    for (size_t i = 0; i < max && s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put(sink, esc, 2);
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(sink, esc, 6);
        } else {
            put(sink, (const char *)&s[i], 1);
        }
    }
    put(sink, "\"", 1);
}

static inline void pl_json_put_file(void *f, const char *bytes, size_t n)
{
    fwrite(bytes, 1, n, (FILE *)f);
}

static inline void pl_json_str(FILE *f, const char *s)
{
    if (s == NULL)
        fputs("null", f);
    else
        pl_json_escape(s, (size_t)-1, pl_json_put_file, f);
}

#endif
