/*
 * json — the one piece of JSON writing the trace and the dump share: a C
 * string as a JSON string (quotes, backslashes and control characters
 * escaped; NULL as null).
 */
#ifndef PLAIT_JSON_H
#define PLAIT_JSON_H

#include <stdio.h>

static inline void pl_json_str(FILE *f, const char *s)
{
    if (s == NULL) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

#endif
