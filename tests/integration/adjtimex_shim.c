/* adjtimex_shim: an LD_PRELOAD library answering the daemon's question "is the clock
 * synchronized?" from a file the test writes ("synced" or "unsynced"), so a test decides when
 * NTP "arrives" whatever the state of the machine it runs on. Without the file, the kernel answers. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>

static int from_file(struct timex *tx, int *rc)
{
    const char *path = getenv("ADJTIMEX_SHIM_FILE");
    if (!path || tx->modes != 0)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char word[16] = "";
    int got = fscanf(f, "%15s", word) == 1;
    fclose(f);
    if (!got)
        return 0;
    memset(tx, 0, sizeof *tx);
    if (strcmp(word, "synced") == 0) {
        *rc = TIME_OK;
    } else {
        tx->status = STA_UNSYNC;
        *rc = TIME_ERROR;
    }
    return 1;
}

int adjtimex(struct timex *tx)
{
    int rc;
    if (from_file(tx, &rc))
        return rc;
    int (*real)(struct timex *) = (int (*)(struct timex *))dlsym(RTLD_NEXT, "adjtimex");
    return real ? real(tx) : -1;
}

int ntp_adjtime(struct timex *tx)
{
    return adjtimex(tx);
}
