/* termios_spy: an LD_PRELOAD library recording every tcsetattr() of the process (speed, parity,
 * stop bits, data bits) to the file named by TERMIOS_SPY_LOG, then doing it. Linux ptys forget
 * parity (they clear PARENB), so a test on a socat pair learns what the daemon asked for here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>

typedef int (*tcsetattr_fn)(int, int, const struct termios *);

int tcsetattr(int fd, int when, const struct termios *t)
{
    static tcsetattr_fn real;
    if (!real)
        real = (tcsetattr_fn)dlsym(RTLD_NEXT, "tcsetattr");
    const char *path = getenv("TERMIOS_SPY_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        tcflag_t c = t->c_cflag;
        int bits = (c & CSIZE) == CS8 ? 8 : (c & CSIZE) == CS7 ? 7 : (c & CSIZE) == CS6 ? 6 : 5;
        char parity = !(c & PARENB) ? 'N' : (c & PARODD) ? 'O' : 'E';
        fprintf(f, "fd=%d ispeed=%u ospeed=%u %d%c%d\n", fd, (unsigned)cfgetispeed(t), (unsigned)cfgetospeed(t),
                bits, parity, (c & CSTOPB) ? 2 : 1);
        fclose(f);
    }
    return real ? real(fd, when, t) : -1;
}
