/* fuzz_profile: the driver profile parser on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    struct profile *p = calloc(1, sizeof *p);
    if (text && p) {
        memcpy(text, data, size);
        text[size] = '\0';
        struct diag err;
        diag_clear(&err);
        if (profile_parse(text, size, "fuzz/profile.json", p, &err) == 0)
            profile_release(p);
        else if (!err.set)
            abort(); /* every refusal must say why */
    }
    free(p);
    free(text);
    return 0;
}
