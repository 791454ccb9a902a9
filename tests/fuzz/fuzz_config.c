/* fuzz_config: the site config parser on arbitrary bytes; profiles come from the repo's drivers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct config *cfg = NULL;
    struct diag err;
    diag_clear(&err);
    if (config_parse(text, size, "/nonexistent/fuzz.json", FUZZ_DRIVERS_DIR, &cfg, &err) == 0)
        config_free(cfg);
    else if (!err.set)
        abort(); /* every refusal must say why */
    free(text);
    return 0;
}
